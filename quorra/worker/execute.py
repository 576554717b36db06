"""Running one job's handler and turning its outcome into a settlement.

A job with a time limit (``timeout_seconds``) runs until its deadline less a small margin
(``report_margin``), so that the failed attempt reaches the server while the lease is still
live (the server never extends a lease past the deadline). An ``async def`` handler is then
cancelled; a ``def`` handler's thread cannot be stopped, so the job's ``timed_out`` flag is set,
the attempt is reported failed at once, and the thread runs on until the handler returns (see
``Worker.abandon`` for how its slot is accounted)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.worker.registry import Job, PermanentError

if TYPE_CHECKING:
    from quorra.worker.runner import Worker

__all__ = ["Running", "TimedOut", "report_margin", "run_handler", "time_left", "to_job"]

log = logging.getLogger("quorra.worker")


class Running:
    """A job this worker holds."""

    def __init__(self, job: pb.Job) -> None:
        self.job = job
        self.task: asyncio.Task[None]  # set by the worker right after
        self.extended_at = time.monotonic()
        self.lease_lost = False


class TimedOut(Exception):
    """The handler ran to its job's deadline. ``holds_slot``: a ``def`` handler's thread runs
    on and keeps its slot until it returns."""

    def __init__(self, timeout: float, *, holds_slot: bool = False) -> None:
        super().__init__(f"timed out after {timeout:g}s")
        self.holds_slot = holds_slot


def _when(message: pb.Job, name: Literal["lease_expires_at", "created_at", "deadline"]
          ) -> datetime | None:
    return getattr(message, name).ToDatetime(tzinfo=UTC) if message.HasField(name) else None


def to_job(message: pb.Job) -> Job:
    payload: Any = msgspec.json.decode(message.payload) if message.payload else {}
    return Job(
        id=message.id, type=message.type, queue=message.queue,
        payload=payload if isinstance(payload, dict) else {"value": payload},
        attempts=message.attempts, max_retries=message.max_retries, priority=message.priority,
        lease_id=message.lease_id, last_error=message.last_error,
        lease_expires_at=_when(message, "lease_expires_at"),
        created_at=_when(message, "created_at"),
        timeout_seconds=message.timeout_seconds or None, deadline=_when(message, "deadline"),
    )


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
    deadline = _when(message, "deadline")
    if deadline is not None:
        left = min(left, (deadline - datetime.now(UTC)).total_seconds())
    return max(left - report_margin(message.timeout_seconds), 0.0)


async def _call(worker: Worker, job: Job, limit: float | None) -> Any:
    func = worker.registry.get(job.type)
    if func is None:
        known = ", ".join(worker.registry.types())
        raise PermanentError(f"no handler for job type {job.type!r} on worker "
                             f"{worker.config.worker_id} (known: {known})")
    if inspect.iscoroutinefunction(func):
        return await _run_async(func, job, limit)
    result = await _run_sync(worker, func, job, limit)
    if inspect.isawaitable(result):
        return await result
    return result


async def _run_async(func: Callable[[Job], Any], job: Job, limit: float | None) -> Any:
    """``await func(job)``, cancelled at ``limit`` seconds (``TimedOut`` then)."""
    if limit is None:
        return await func(job)
    scope = asyncio.timeout(limit)
    try:
        async with scope:
            result = await func(job)
    except TimeoutError:
        if not scope.expired():
            raise  # the handler's own timeout: an ordinary failure
    if scope.expired():  # also when the handler swallowed the cancellation
        job.expired.set()
        raise TimedOut(job.timeout_seconds or limit)
    return result


async def _run_sync(worker: Worker, func: Callable[[Job], Any], job: Job,
                    limit: float | None) -> Any:
    """``func(job)`` on a thread of the worker's pool, with the caller's context variables; at
    ``limit`` seconds the job is given up (``TimedOut``) and the thread left to finish."""
    context = contextvars.copy_context()
    future = asyncio.get_running_loop().run_in_executor(
        worker.threads, functools.partial(context.run, func, job))
    if limit is None:
        return await future
    done, _ = await asyncio.wait({future}, timeout=limit)
    if done:
        return future.result()
    job.expired.set()  # the handler may poll job.timed_out and return
    spare = worker.abandon(future)
    raise TimedOut(job.timeout_seconds or limit, holds_slot=not spare)


def _failure(message: pb.Job, exc: BaseException) -> pb.Settlement:
    text = str(exc) or type(exc).__name__
    if not isinstance(exc, PermanentError | TimedOut):
        text = f"{type(exc).__name__}: {text}"
    return pb.Settlement(job_id=message.id, lease_id=message.lease_id, success=False,
                         error_message=text[:4000], no_retry=isinstance(exc, PermanentError))


async def run_handler(worker: Worker, entry: Running) -> None:
    message = entry.job
    credit = True
    try:
        result = await _call(worker, to_job(message), time_left(message))
        try:
            encoded = msgspec.json.encode(result) if result is not None else b""
        except (TypeError, msgspec.EncodeError) as exc:
            raise PermanentError(f"the handler's result is not JSON: {exc}") from None
        settlement = pb.Settlement(job_id=message.id, lease_id=message.lease_id, success=True,
                                   result=encoded)
    except asyncio.CancelledError:
        if entry.lease_lost:  # nothing to report: the server took the job back
            worker.free_slot()
        else:  # cancelled by a drain: give the job back unrun
            worker.settle(pb.Settlement(job_id=message.id, lease_id=message.lease_id,
                                        release=True), credit=False)
        worker.finished(entry)
        return
    except TimedOut as exc:
        log.warning("job %s (%s) %s", message.id, message.type, exc)
        settlement, credit = _failure(message, exc), not exc.holds_slot
    except Exception as exc:
        log.info("job %s (%s) failed: %s", message.id, message.type, exc)
        settlement = _failure(message, exc)
    worker.finished(entry)
    worker.settle(settlement, credit=credit)
