"""Handlers by job type, the ``Job`` they receive, and ``PermanentError``."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

__all__ = ["Handler", "Job", "PermanentError", "Registry", "default_registry", "handler"]


class PermanentError(Exception):
    """Raise from a handler to fail the job for good: it goes to ``dead`` without retries."""


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """A leased job as a handler sees it. ``payload`` is the decoded JSON object.

    ``cancelled`` turns true when the job is cancelled while the handler runs
    (``POST /v1/jobs/{id}/cancel``), or when its lease is lost (a refused heartbeat): an
    ``async def`` handler's task is cancelled at once (``asyncio.CancelledError`` at its next
    ``await``), a ``def`` handler should poll ``job.cancelled`` and return. Either way its
    outcome is discarded.

    ``timeout_seconds`` and ``deadline`` are the job's time limit and this attempt's deadline
    (None: no limit). At the deadline the worker reports the attempt failed ("timed out after
    Ns"): an ``async def`` handler is cancelled; a ``def`` handler cannot be stopped from
    outside, so ``timed_out`` turns True and the handler should poll it and return."""

    id: str
    type: str
    queue: str
    payload: dict[str, Any]
    attempts: int
    max_retries: int
    priority: int = 0
    lease_id: str = ""
    lease_expires_at: datetime | None = None
    created_at: datetime | None = None
    last_error: str = ""
    timeout_seconds: float | None = None
    deadline: datetime | None = None
    traceparent: str | None = None  # the producer's W3C traceparent, if it sent one
    cancel_event: threading.Event = dataclasses.field(
        default_factory=threading.Event, repr=False, compare=False)
    # set by the worker at the deadline (``timed_out``); a handler may also wait on it
    expired: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False,
                                                 compare=False)

    @property
    def cancelled(self) -> bool:
        """True once the job was cancelled: stop work and return (see the class)."""
        return self.cancel_event.is_set()

    @property
    def timed_out(self) -> bool:
        """True once the attempt passed its deadline (it was reported failed already)."""
        return self.expired.is_set()


Handler = Callable[[Job], Any] | Callable[[Job], Awaitable[Any]]
F = TypeVar("F", bound=Callable[..., Any])


class Registry:
    """Job type → handler. A handler is ``def f(job)`` or ``async def f(job)``; what it returns
    is the job's result (JSON-encodable)."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def handler(self, job_type: str) -> Callable[[F], F]:
        def register(func: F) -> F:
            self.add(job_type, func)
            return func

        return register

    def add(self, job_type: str, func: Handler) -> None:
        if not job_type:
            raise ValueError("a handler needs a job type")
        self._handlers[job_type] = func

    def update(self, other: Registry) -> None:
        self._handlers.update(other._handlers)

    def get(self, job_type: str) -> Handler | None:
        return self._handlers.get(job_type)

    def types(self) -> list[str]:
        return sorted(self._handlers)


default_registry = Registry()


def handler(job_type: str) -> Callable[[F], F]:
    """Register ``func`` for ``job_type`` in the default registry: ``@handler("email_send")``."""
    return default_registry.handler(job_type)
