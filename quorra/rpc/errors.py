"""The one place ``QuorraError`` becomes a gRPC status. Nothing leaves as ``UNKNOWN``: an
unexpected exception is logged and answered ``INTERNAL``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc

from quorra.core.errors import (
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    LeaseLost,
    PermissionDenied,
    QuorraError,
    Throttled,
    Unauthenticated,
    Unavailable,
)

__all__ = ["abort_with", "status_of", "translated"]

log = logging.getLogger(__name__)

R = TypeVar("R")

_CODES: list[tuple[type[QuorraError], grpc.StatusCode]] = [
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (JobNotFound, grpc.StatusCode.NOT_FOUND),
    (LeaseLost, grpc.StatusCode.FAILED_PRECONDITION),
    (InvalidTransition, grpc.StatusCode.FAILED_PRECONDITION),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (Throttled, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
]


def status_of(exc: BaseException) -> grpc.StatusCode:
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> NoReturn:
    if not isinstance(exc, QuorraError):
        log.exception("unexpected error in a gRPC call", exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")
    await context.abort(status_of(exc), exc.message)


def translated(
    method: Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[R]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[R]]:
    """Wrap a unary servicer method so errors become real status codes."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> R:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort_with(context, exc)

    return wrapper
