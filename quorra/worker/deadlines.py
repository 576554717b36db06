"""A job's time limit in the worker. A job with ``timeout_seconds`` runs until its deadline less
a small margin (``report_margin``), so that the failed attempt reaches the server while the
lease is still live (the server never extends a lease past the deadline). An ``async def``
handler is then cancelled; a ``def`` handler's thread cannot be stopped, so the job's
``timed_out`` flag is set, the attempt is reported failed at once, and the thread runs on until
the handler returns (``Worker.abandon`` accounts for its slot)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.worker.registry import Job

if TYPE_CHECKING:
    from quorra.worker.runner import Worker

__all__ = ["TimedOut", "report_margin", "run_async", "run_sync", "time_left", "when"]


class TimedOut(Exception):
    """The handler ran to its job's deadline. ``holds_slot``: a ``def`` handler's thread runs
    on and keeps its slot until it returns."""

    def __init__(self, timeout: float, *, holds_slot: bool = False) -> None:
        super().__init__(f"timed out after {timeout:g}s")
        self.holds_slot = holds_slot


def when(message: pb.Job, name: Literal["lease_expires_at", "created_at", "deadline"]
         ) -> datetime | None:
    return getattr(message, name).ToDatetime(tzinfo=UTC) if message.HasField(name) else None


def report_margin(timeout: float) -> float:
    """How long before the deadline the handler is stopped: time to report the failure while
    the lease is live (a tenth of the limit, at most half a second)."""
    return min(0.5, timeout / 10)


def time_left(message: pb.Job) -> float | None:
    """Seconds the handler may run (None: no limit): to the deadline less the margin, never
    more than the limit itself (the worker's clock may differ from the server's)."""
    if not message.timeout_seconds:
        return None
    left = message.timeout_seconds
    deadline = when(message, "deadline")
    if deadline is not None:
        left = min(left, (deadline - datetime.now(UTC)).total_seconds())
    return max(left - report_margin(message.timeout_seconds), 0.0)


async def run_async(handler: Awaitable[Any], job: Job, limit: float | None) -> Any:
    """``await handler``, cancelled at ``limit`` seconds (``TimedOut`` then)."""
    if limit is None:
        return await handler
    scope = asyncio.timeout(limit)
    try:
        async with scope:
            result = await handler
    except TimeoutError:
        if not scope.expired():
            raise  # the handler's own timeout: an ordinary failure
    if scope.expired():  # also when the handler swallowed the cancellation
        job.expired.set()
        raise TimedOut(job.timeout_seconds or limit)
    return result


async def run_sync(worker: Worker, func: Callable[[Job], Any], job: Job,
                   limit: float | None) -> Any:
    """``func(job)`` on a handler thread; at ``limit`` seconds the job is given up
    (``TimedOut``) and the thread left to finish."""
    future = worker.threads.run(func, job)
    if limit is None:
        return await future
    try:
        done, _ = await asyncio.wait({future}, timeout=limit)
    except asyncio.CancelledError:
        future.cancel()  # not started yet: it never will be
        raise
    if done:
        return future.result()
    job.expired.set()  # the handler may poll job.timed_out and return
    spare = worker.abandon(future)
    raise TimedOut(job.timeout_seconds or limit, holds_slot=not spare)
