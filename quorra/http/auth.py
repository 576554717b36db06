"""API-key guard: header ``X-API-Key`` or query ``api_key``, compared in constant time."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

__all__ = ["api_key_guard"]

INVALID_KEY = "Invalid or missing API key"


async def api_key_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    expected: bytes = connection.app.state.api_key
    given = connection.headers.get("x-api-key") or connection.query_params.get("api_key") or ""
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected):
        raise NotAuthorizedException(detail=INVALID_KEY)
