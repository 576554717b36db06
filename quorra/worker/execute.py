"""Running one job's handler and turning its outcome into a settlement. A job waits here for a
handler slot (``Worker.slots``) when it was prefetched; a time limit is kept by
``quorra.worker.deadlines``."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import msgspec

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.worker.deadlines import TimedOut, run_async, run_sync, time_left, when
from quorra.worker.registry import Job, PermanentError
from quorra.worker.tracing import run_span

if TYPE_CHECKING:
    from quorra.worker.runner import Worker

__all__ = ["Running", "run_handler", "stop_waiting", "to_job"]

log = logging.getLogger("quorra.worker")


class Running:
    """A job this worker holds."""

    def __init__(self, job: pb.Job) -> None:
        self.job = job
        self.task: asyncio.Task[None]  # set by the worker right after
        self.extended_at = time.monotonic()
        self.lease_lost = False
        self.began = False  # its task has run (``run_handler`` cleans up after a cancel)
        self.started = False  # a slot is running its handler (else it waits, prefetched)
        self.cancel_event = threading.Event()  # the handler's ``job.cancelled``
        self.handler_task: asyncio.Future[Any] | None = None  # an ``async def`` handler's

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


def to_job(message: pb.Job, cancel_event: threading.Event | None = None) -> Job:
    payload: Any = msgspec.json.decode(message.payload) if message.payload else {}
    return Job(
        id=message.id, type=message.type, queue=message.queue,
        payload=payload if isinstance(payload, dict) else {"value": payload},
        attempts=message.attempts, max_retries=message.max_retries, priority=message.priority,
        lease_id=message.lease_id, last_error=message.last_error,
        lease_expires_at=when(message, "lease_expires_at"), created_at=when(message, "created_at"),
        timeout_seconds=message.timeout_seconds or None, deadline=when(message, "deadline"),
        traceparent=message.traceparent or None,
        cancel_event=cancel_event or threading.Event(),
    )


async def _call(worker: Worker, job: Job, entry: Running, limit: float | None) -> Any:
    func = worker.registry.get(job.type)
    if func is None:
        known = ", ".join(worker.registry.types())
        raise PermanentError(f"no handler for job type {job.type!r} on worker "
                             f"{worker.config.worker_id} (known: {known})")
    if inspect.iscoroutinefunction(func):  # its own task, so a cancel stops it alone
        entry.handler_task = asyncio.ensure_future(func(job))
        return await run_async(entry.handler_task, job, limit)
    result = await run_sync(worker, func, job, limit)
    if inspect.isawaitable(result):
        return await result
    return result


async def _in_slot(worker: Worker, entry: Running) -> Any:
    """Run the handler once a slot is free. A ``def`` handler that timed out while more than
    ``max_jobs`` threads linger keeps its slot until its thread returns (``Worker.abandon``)."""
    await worker.slots.acquire()
    keep = False
    try:
        entry.started = True
        if entry.cancelled:  # cancelled before it began
            raise asyncio.CancelledError
        began = time.monotonic()
        try:
            with run_span(entry.job):
                return await _call(worker, to_job(entry.job, entry.cancel_event), entry,
                                   time_left(entry.job))
        finally:
            worker.window.observe(time.monotonic() - began)
    except TimedOut as exc:
        keep = exc.holds_slot
        raise
    finally:
        if not keep:
            worker.slots.release()


def stop_waiting(worker: Worker, entry: Running) -> None:
    """Stop a job that has no slot yet (prefetched): at once, without waiting for a slot."""
    entry.task.cancel()
    if not entry.began:  # cancelled before its first step: nothing in it will clean up
        _stopped(worker, entry)


def _stopped(worker: Worker, entry: Running) -> None:
    worker.finished(entry)
    if entry.lease_lost:  # nothing to report: the server took the job back (or cancelled it)
        worker.free_slot()
    else:  # cancelled by a drain: give the job back unrun
        worker.settle(pb.Settlement(job_id=entry.job.id, lease_id=entry.job.lease_id,
                                    release=True), credit=False)


def _success(message: pb.Job, result: Any) -> pb.Settlement:
    try:
        encoded = msgspec.json.encode(result) if result is not None else b""
    except (TypeError, msgspec.EncodeError) as exc:
        raise PermanentError(f"the handler's result is not JSON: {exc}") from None
    return pb.Settlement(job_id=message.id, lease_id=message.lease_id, success=True,
                         result=encoded)


def _failure(message: pb.Job, exc: BaseException) -> pb.Settlement:
    text = str(exc) or type(exc).__name__
    if not isinstance(exc, PermanentError | TimedOut):
        text = f"{type(exc).__name__}: {text}"
    return pb.Settlement(job_id=message.id, lease_id=message.lease_id, success=False,
                         error_message=text[:4000], no_retry=isinstance(exc, PermanentError))


async def run_handler(worker: Worker, entry: Running) -> None:
    message = entry.job
    entry.began = True
    credit = True
    try:
        settlement = _success(message, await _in_slot(worker, entry))
    except asyncio.CancelledError:
        _stopped(worker, entry)
        return
    except TimedOut as exc:
        log.warning("job %s (%s) %s", message.id, message.type, exc)
        settlement, credit = _failure(message, exc), not exc.holds_slot
    except Exception as exc:
        log.info("job %s (%s) failed: %s", message.id, message.type, exc)
        settlement = _failure(message, exc)
    worker.finished(entry)
    if entry.cancelled:  # a def handler saw job.cancelled: its lease is void, report nothing
        worker.free_slot()
        return
    worker.settle(settlement, credit=credit)
