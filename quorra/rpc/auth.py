"""API key in metadata ``x-api-key`` or ``authorization: Bearer <key or JWT>``, found in the
replica's ``Keyring`` (a JWT verified by its token verifier); the method's rule
from ``quorra.core.permissions``. Health checks and reflection need no key.

A refused call gets a handler of the same kind that answers UNAUTHENTICATED (no or unknown
key), PERMISSION_DENIED (the role may not call the method) or RESOURCE_EXHAUSTED with a
``retry-after`` trailer (too many failed authentications from that address or key id: the
peer's address is only known inside the call, so the count happens there). An allowed call
runs with its principal in ``current_principal`` for the queue checks made where the queue is
known (the request's queues, the jobs of a batch, the job read)."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeAlias

import grpc

from quorra.core.errors import PermissionDenied
from quorra.core.jobs import Job
from quorra.core.keys import Keyring, Principal, key_id_of, looks_like_jwt
from quorra.core.permissions import RPC_METHODS, authorize, authorize_queues
from quorra.core.tenancy import shown_queue, stored_queues
from quorra.core.throttle import FailureThrottle
from quorra.metrics import Metrics
from quorra.rpc.convert import job_to_pb
from quorra.rpc.proto import quorra_pb2 as pb

__all__ = ["EXEMPT_PREFIXES", "INVALID_KEY", "ApiKeyInterceptor", "allow_queues", "credential",
           "current_principal", "job_message", "peer_address", "tenant_queues"]

INVALID_KEY = "Invalid or missing API key"
EXEMPT_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Refusal = Callable[[Context], Awaitable[None]]

current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "quorra_principal", default=None)


def allow_queues(queues: list[str]) -> None:
    """PermissionDenied unless the calling key may use every queue of ``queues`` (a call that
    did not pass the interceptor has no principal: denied)."""
    principal = current_principal.get()
    if principal is None:
        raise PermissionDenied("no authenticated key")
    if principal.queues:
        authorize_queues(principal, queues)


def tenant_queues(queues: list[str]) -> list[str]:
    """The stored names of ``queues`` as the calling principal names them (its tenant's)."""
    principal = current_principal.get()
    if principal is None or principal.tenant is None:
        return queues
    return stored_queues(principal, queues)


def job_message(job: Job, principal: Principal | None) -> pb.Job:
    """A leased job's message, its queue named as ``principal`` sees it."""
    message = job_to_pb(job)
    if principal is not None and principal.tenant is not None:
        message.queue = shown_queue(principal, job.queue)
    return message


def credential(metadata: Iterable[tuple[str, str | bytes]]) -> bytes:
    """``authorization: Bearer …`` if sent, else the last ``x-api-key``."""
    key: bytes = b""
    for name, value in metadata:
        raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        if name == "x-api-key":
            key = raw
        elif name == "authorization" and raw[:7].lower() == b"bearer ":
            return raw[7:].strip()
    return key


def peer_address(peer: str) -> str:
    """``ipv4:1.2.3.4:5678`` → ``1.2.3.4``; ``ipv6:[::1]:5678`` → ``::1``."""
    address = peer.split(":", 1)[1] if ":" in peer else peer
    return address.rsplit(":", 1)[0].strip("[]") if address.count(":") >= 1 else address


def _refusing(handler: Handler, refuse: Refusal) -> Handler:
    """A handler of the same kind as ``handler`` that only refuses."""
    async def unary(request: Any, context: Context) -> Any:
        await refuse(context)

    async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
        await refuse(context)
        yield  # pragma: no cover  (makes this an async generator, as streaming handlers are)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(unary)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(stream)
    return grpc.unary_unary_rpc_method_handler(unary)


def _as(handler: Handler, principal: Principal) -> Handler:
    """``handler`` running with ``principal`` as the current one."""
    kind = ("stream_stream" if handler.request_streaming and handler.response_streaming else
            "stream_unary" if handler.request_streaming else
            "unary_stream" if handler.response_streaming else "unary_unary")
    behavior = getattr(handler, kind)

    if handler.response_streaming:
        async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
            current_principal.set(principal)
            async for item in behavior(request, context):
                yield item
        wrapped: Any = streaming
    else:
        async def single(request: Any, context: Context) -> Any:
            current_principal.set(principal)
            return await behavior(request, context)
        wrapped = single
    make = getattr(grpc, f"{kind}_rpc_method_handler")
    made: Handler = make(wrapped, request_deserializer=handler.request_deserializer,
                         response_serializer=handler.response_serializer)
    return made


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, keyring: Keyring | str, *, throttle: FailureThrottle | None = None,
                 metrics: Metrics | None = None) -> None:
        self.keyring = keyring if isinstance(keyring, Keyring) else Keyring(keyring)
        self.throttle = throttle or FailureThrottle()
        self.metrics = metrics

    def _count(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.auth_failed("grpc", reason)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None or details.method.startswith(EXEMPT_PREFIXES):
            return handler
        given = credential(details.invocation_metadata or ())
        principal = await self.keyring.verify(given)
        if principal is None:
            return _refusing(handler, lambda context: self._unauthenticated(context, given))
        rule = RPC_METHODS.get(details.method)
        try:
            if rule is None:
                raise PermissionDenied("this method is not in the permission table")
            authorize(principal, rule)
        except PermissionDenied as exc:
            self._count("denied")
            message = exc.message
            return _refusing(handler, lambda context: context.abort(
                grpc.StatusCode.PERMISSION_DENIED, message))
        return _as(handler, principal)

    async def _unauthenticated(self, context: Context, given: bytes) -> None:
        wait = self.throttle.failed(peer_address(context.peer() or ""), key_id_of(given))
        if wait is None:
            self._count("missing_key" if not given else "invalid_token" if looks_like_jwt(given)
                        else "invalid_key")
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, INVALID_KEY)
        self._count("throttled")
        context.set_trailing_metadata((("retry-after", str(wait)),))
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                            f"Too many failed authentications; retry in {wait} s")
