"""The one place errors become HTTP answers: ``{"error": "...", "field"?: "..."}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from quorra.core.errors import (
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    KeyNotFound,
    LeaseLost,
    PermissionDenied,
    QueueNotFound,
    QuorraError,
    ScheduleNotFound,
    Throttled,
    TooLarge,
    Unauthenticated,
    Unavailable,
    WebhookNotFound,
)
from quorra.http.schemas import ErrorBody

__all__ = ["EXCEPTION_HANDLERS", "error_responses"]

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[QuorraError], int]] = [
    (Throttled, 429),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (KeyNotFound, 404),
    (WebhookNotFound, 404),
    (TooLarge, 413),
    (InvalidInput, 400),
    (JobNotFound, 404),
    (ScheduleNotFound, 404),
    (QueueNotFound, 404),
    (LeaseLost, 409),
    (InvalidTransition, 409),
    (Unavailable, 503),
]


def _answer(status: int, message: str, field: str | None = None,
            headers: Mapping[str, str] | None = None) -> Response[ErrorBody]:
    return Response(ErrorBody(error=message, field=field), status_code=status,
                    media_type=MediaType.JSON, headers=dict(headers or {}))


def _retry_after(exc: QuorraError, status: int) -> dict[str, str] | None:
    if isinstance(exc, Throttled):
        return {"Retry-After": str(exc.retry_after)}
    return {"Retry-After": "1"} if status == 503 else None


def _quorra_error(_: Request[Any, Any, Any], exc: QuorraError) -> Response[ErrorBody]:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            headers = _retry_after(exc, status)
            return _answer(status, exc.message, getattr(exc, "field", None), headers)
    return _internal(_, exc)


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    extra = exc.extra if isinstance(exc.extra, list) and exc.extra else None
    if extra and isinstance(extra[0], dict):
        field = str(extra[0].get("key", ""))
        return _answer(400, f"{field}: {extra[0].get('message', exc.detail)}", field)
    return _answer(400, exc.detail)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    message = "Request body too large" if exc.status_code == 413 else exc.detail
    return _answer(exc.status_code, message, headers=exc.headers)


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _answer(500, "internal server error")


EXCEPTION_HANDLERS: dict[int | type[Exception], Any] = {
    QuorraError: _quorra_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _internal,
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error answers a route can give."""
    text = {400: "Invalid input (the field is named)", 401: "Invalid or missing API key",
            403: "The key's role or queue patterns do not allow this",
            429: "Too many failed authentications; see Retry-After",
            404: "Job, queue, schedule or key not found",
            409: "Lease lost, the job's state does not allow it, or the name is taken",
            413: "Body, payload or batch too large",
            503: "Store unavailable; retry later"}
    if 401 in statuses:  # a keyed route may also refuse the key's role, or throttle
        statuses = tuple(sorted({*statuses, 403, 429}))
    return {s: ResponseSpec(data_container=ErrorBody, description=text[s]) for s in statuses}
