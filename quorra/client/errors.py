"""The producer client's exceptions, mapped from the server's gRPC status codes.

    QuorraError                  (quorra.core.errors: the one tree of Quorra)
     └── ClientError             a call failed; ``code`` is the gRPC status name
          ├── InvalidRequest     bad input (INVALID_ARGUMENT); ``field`` names it; nothing stored
          ├── AuthError          wrong or missing API key (UNAUTHENTICATED, PERMISSION_DENIED)
          ├── NotFound           no job with that id (NOT_FOUND)
          ├── Conflict           the job's state does not allow it, e.g. cancelling a
          │                      finished job (FAILED_PRECONDITION)
          ├── ServerUnavailable  unreachable, or its store is down (UNAVAILABLE,
          │                      DEADLINE_EXCEEDED), still so when the retry budget ran out
          └── ServerError        anything else (INTERNAL, …)

After ``ServerUnavailable`` an enqueue may or may not have been stored; sending the same jobs
(the same ids) again is safe: the server stores an id once. ``enqueued`` lists what
``enqueue_many`` had stored, acknowledged, before the failure.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import grpc

from quorra.core.errors import QuorraError

if TYPE_CHECKING:
    from quorra.client.types import Enqueued

__all__ = [
    "AuthError",
    "ClientError",
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "ServerError",
    "ServerUnavailable",
    "error_from",
    "invalid",
]

_FIELD = re.compile(r"^(?P<field>[\w.\[\]-]+): (?P<problem>.*)$", re.DOTALL)


class ClientError(QuorraError):
    """A call to the Quorra server failed."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.enqueued: list[Enqueued] = []


class InvalidRequest(ClientError):
    """The server refused the input (nothing was stored); ``field`` names what is wrong."""

    def __init__(self, field: str, problem: str, code: str = "INVALID_ARGUMENT") -> None:
        super().__init__(f"{field}: {problem}" if field else problem, code)
        self.field = field
        self.problem = problem


class AuthError(ClientError):
    """The server refused the API key."""


class NotFound(ClientError):
    """No job with that id."""


class Conflict(ClientError):
    """The job's state does not allow this (e.g. cancelling a job that succeeded or is dead)."""


class ServerUnavailable(ClientError):
    """The server cannot be reached, or cannot reach its store."""


class ServerError(ClientError):
    """The server failed in an unexpected way."""


_KINDS: dict[grpc.StatusCode, type[ClientError]] = {
    grpc.StatusCode.UNAUTHENTICATED: AuthError,
    grpc.StatusCode.PERMISSION_DENIED: AuthError,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: Conflict,
    grpc.StatusCode.UNAVAILABLE: ServerUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: ServerUnavailable,
}


def invalid(details: str, shift: tuple[str, int] | None = None) -> InvalidRequest:
    """``InvalidRequest`` from the server's "field: problem"; ``shift`` = (prefix, offset)
    renames the server's ``jobs[i]`` (the index within one message) for the caller."""
    match = _FIELD.match(details)
    if not match:
        return InvalidRequest("", details)
    field = match.group("field")
    if shift is not None:
        field = _shifted(field, *shift)
    return InvalidRequest(field, match.group("problem"))


def _shifted(field: str, prefix: str, offset: int) -> str:
    index = re.match(r"^jobs\[(\d+)\]\.?", field)
    if index is None:
        return field
    rest = field[index.end():]
    if prefix == "":  # a single enqueue: the field of the job itself
        return rest or "job"
    return f"{prefix}[{int(index.group(1)) + offset}]" + (f".{rest}" if rest else "")


def error_from(exc: grpc.aio.AioRpcError, shift: tuple[str, int] | None = None) -> ClientError:
    code = exc.code()
    details = exc.details() or code.name
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return invalid(details, shift)
    kind = _KINDS.get(code, ServerError)
    return kind(f"{details} ({code.name})", code.name)
