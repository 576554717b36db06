"""Who may use the dashboard: a valid session cookie of a key still active, the permission the
route needs for that key's role (``DASHBOARD_ROUTES``), and for every state change a CSRF token
bound to that session plus a same-origin request."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from quorra.core.errors import PermissionDenied
from quorra.core.keys import Keyring, Principal, Role
from quorra.core.permissions import Rule, authorize
from quorra.http.dashboard.session import SESSION_COOKIE, LoginSession, SessionSigner

__all__ = ["CSRF_HEADER", "current_session", "same_origin", "session_guard", "signer"]

CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

Connection = ASGIConnection[Any, Any, Any, Any]


def signer(connection: Connection) -> SessionSigner:
    found: SessionSigner = connection.app.state.session_signer
    return found


def current_session(connection: Connection) -> LoginSession | None:
    """The session of the cookie, while its key is not revoked."""
    session = signer(connection).read(connection.cookies.get(SESSION_COOKIE))
    keyring: Keyring = connection.app.state.keyring
    if session is None or not keyring.active(session.key_id):
        return None
    return session


def same_origin(connection: Connection) -> bool:
    """A browser names the page's origin on state changes; it must be this host. Clients that
    send no ``Origin`` are not browsers running another site's script."""
    origin = connection.headers.get("origin")
    if origin is None:
        return connection.headers.get("sec-fetch-site", "same-origin") in (
            "same-origin", "none")
    return urlsplit(origin).netloc == connection.headers.get("host")


async def session_guard(connection: Connection, _: BaseRouteHandler) -> None:
    """The dashboard's JSON endpoints: 401 without a session, 403 for a forged state change."""
    session = current_session(connection)
    if session is None:
        raise NotAuthorizedException(detail="Log in to the dashboard first")
    rule: Rule = connection.scope["route_handler"].opt["rule"]
    try:
        authorize(Principal(Role(session.role), key_id=session.key_id,
                            tenant=session.tenant), rule)
    except PermissionDenied as exc:
        connection.app.state.metrics.auth_failed("dashboard", "denied")
        raise PermissionDeniedException(detail=exc.message) from None
    if connection.scope.get("method", "GET") in _SAFE:
        return
    token = connection.headers.get(CSRF_HEADER)
    if not (same_origin(connection) and signer(connection).csrf_ok(session, token)):
        raise PermissionDeniedException(detail="Missing or invalid CSRF token")
