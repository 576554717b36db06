"""API-key check and authorization: header ``X-API-Key``, ``Authorization: Bearer`` (an API key
or a JWT, see ``quorra.tokens``) or query ``api_key``.

It runs as the controllers' ``before_request`` hook rather than as a guard: Litestar copies the
route handler for every guard call, which cost about 8% of a single-job enqueue's CPU. The
hook runs at the same point (before the body is read or the handler called), and an exception
from it takes the same path as a guard's. A handler of these controllers must therefore not set
its own ``before_request`` (it would replace this one).

The hook finds the principal in the replica's ``Keyring`` (one SHA-256 and a dict lookup, or a
constant-time comparison for ``QUORRA_API_KEY``), checks the route's rule from
``quorra.core.permissions`` (attached to each handler by ``attach_rules``) and the queue when
the path or query names it, and leaves the principal in the scope for the handlers that find
their queue in the body or the job (``principal_of``). Failures are counted per client address
and key id; past the limit they are answered 429 with ``Retry-After``."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.routes import HTTPRoute

from quorra.core.errors import PermissionDenied, Throttled
from quorra.core.keys import Keyring, Principal, key_id_of, looks_like_jwt
from quorra.core.permissions import (
    DASHBOARD_ROUTES,
    REST_ROUTES,
    Rule,
    Scope,
    authorize,
    authorize_queues,
)
from quorra.core.throttle import FailureThrottle
from quorra.metrics import Metrics

__all__ = ["INVALID_KEY", "PRINCIPAL", "attach_rules", "authenticate", "client_address",
           "equal_secrets", "failure_reason", "header_credential", "principal_of",
           "require_api_key", "require_queue_access"]

INVALID_KEY = "Invalid or missing API key"
PRINCIPAL = "quorra.principal"
AnyConnection = ASGIConnection[Any, Any, Any, Any]


def equal_secrets(given: str, expected: str) -> bool:
    """Constant-time, and any text a client sent (non-ASCII, lone surrogates) is just unequal."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))


def client_address(connection: AnyConnection) -> str:
    client = connection.scope.get("client")
    return str(client[0]) if client else "unknown"


def failed(connection: AnyConnection, given: bytes, door: str) -> None:
    """Count a failed authentication and answer 401, or 429 past the throttle's limit."""
    state = connection.app.state
    throttle: FailureThrottle = state.throttle
    metrics: Metrics = state.metrics
    wait = throttle.failed(client_address(connection), key_id_of(given))
    if wait is not None:
        metrics.auth_failed(door, "throttled")
        raise Throttled(wait)
    metrics.auth_failed(door, failure_reason(given))
    raise NotAuthorizedException(detail=INVALID_KEY)


def failure_reason(given: bytes) -> str:
    return "missing_key" if not given else "invalid_token" if looks_like_jwt(given) else \
        "invalid_key"


async def authenticate(connection: AnyConnection, given: bytes, door: str = "rest") -> Principal:
    keyring: Keyring = connection.app.state.keyring
    principal = await keyring.verify(given)
    if principal is None:
        failed(connection, given, door)
        raise AssertionError("unreachable")  # pragma: no cover
    return principal


def denied(connection: AnyConnection, door: str, exc: PermissionDenied) -> PermissionDenied:
    metrics: Metrics = connection.app.state.metrics
    metrics.auth_failed(door, "denied")
    return exc


async def require_api_key(request: Request[Any, Any, Any]) -> None:
    given = header_credential(request.scope["headers"]) or request.query_params.get(
        "api_key", "").encode("utf-8", "surrogatepass")
    principal = await authenticate(request, given)
    scope = request.scope
    rule: Rule = scope["route_handler"].opt["rule"]
    try:
        authorize(principal, rule)
        if principal.queues:  # a limited key: the queue named in the path or query
            if rule.scope is Scope.PATH:
                authorize_queues(principal, [str(scope["path_params"]["queue"])])
            elif rule.scope is Scope.QUERY:
                queue = request.query_params.get("queue")
                if not queue:
                    raise PermissionDenied("this key lists jobs of its queues only: name one")
                authorize_queues(principal, [queue])
    except PermissionDenied as exc:
        raise denied(request, "rest", exc) from None
    scope[PRINCIPAL] = principal  # type: ignore[literal-required]


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    found: Principal = request.scope[PRINCIPAL]  # type: ignore[literal-required]
    return found


def require_queue_access(request: Request[Any, Any, Any], queues: list[str]) -> None:
    """The queues of a body or a job, for a key limited to queue patterns (403 otherwise)."""
    principal = principal_of(request)
    if principal.queues:
        try:
            authorize_queues(principal, queues)
        except PermissionDenied as exc:
            raise denied(request, "rest", exc) from None


def attach_rules(app: Litestar) -> None:
    """Give every ``/v1`` and dashboard API handler its rule from the table; a route missing
    from it is a bug."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        table = (REST_ROUTES if route.path.startswith("/v1/") else DASHBOARD_ROUTES
                 if route.path.startswith("/dashboard/api/") else None)
        if table is None:
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if method == "OPTIONS":
                continue
            rule = table.get((method, route.path))
            if rule is None:
                raise LookupError(f"{method} {route.path} is not in the permission table")
            handler.opt["rule"] = rule


def header_credential(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``Authorization: Bearer <token or key>``, else the first ``X-API-Key``, read from the raw
    ASGI headers (ASGI lower-cases the names): building the request's header map just for this
    cost ~5% of an enqueue."""
    key = b""
    for name, value in headers:
        if name == b"x-api-key" and not key:
            key = bytes(value)
        elif name == b"authorization" and value[:7].lower() == b"bearer ":
            return bytes(value[7:]).strip()
    return key
