"""API key in metadata ``x-api-key``, compared in constant time. Health checks and reflection
need no key."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import grpc

__all__ = ["EXEMPT_PREFIXES", "INVALID_KEY", "ApiKeyInterceptor"]

INVALID_KEY = "Invalid or missing API key"
EXEMPT_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


async def _deny_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, INVALID_KEY)


async def _deny_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, INVALID_KEY)
    yield  # pragma: no cover  (makes this an async generator, as streaming handlers are)


def _denial(handler: Handler) -> Handler:
    """A handler of the same kind as ``handler`` that answers UNAUTHENTICATED."""
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(_deny_stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(_deny_unary)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(_deny_stream)
    return grpc.unary_unary_rpc_method_handler(_deny_unary)


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, api_key: str) -> None:
        self._expected = api_key.encode("utf-8", "surrogatepass")

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None or details.method.startswith(EXEMPT_PREFIXES):
            return handler
        given = ""
        for key, value in details.invocation_metadata or ():
            if key == "x-api-key":
                given = value if isinstance(value, str) else value.decode("latin-1")
        if hmac.compare_digest(given.encode("utf-8", "surrogatepass"), self._expected):
            return handler
        return _denial(handler)
