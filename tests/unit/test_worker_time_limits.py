"""The worker SDK's time limits (no server): a handler is given up at its job's deadline (less
the report margin) and the attempt is reported failed, "timed out after Ns"; an ``async def``
handler is cancelled, a ``def`` handler's thread runs on with ``job.timed_out`` set and its
slot accounted (``Worker.abandon``)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.worker import Job, Registry, WorkerConfig
from quorra.worker.deadlines import report_margin, time_left
from quorra.worker.runner import Worker
from tests.support import eventually

LIMIT = 0.5


def message(job_type: str, timeout: float = LIMIT) -> pb.Job:
    job = pb.Job(id=str(uuid.uuid4()), type=job_type, lease_id=str(uuid.uuid4()), attempts=1,
                 max_retries=3, timeout_seconds=timeout)
    if timeout:
        deadline = Timestamp()
        deadline.FromDatetime(datetime.now(UTC) + timedelta(seconds=timeout))
        job.deadline.CopyFrom(deadline)
    return job


def worker_with(max_jobs: int = 2, **handlers: Callable[[Job], Any]) -> Worker:
    registry = Registry()
    for name, func in handlers.items():
        registry.add(name, func)
    return Worker(WorkerConfig.from_env({"QUORRA_WORKER_MAX_JOBS": str(max_jobs)}), registry)


async def settled(worker: Worker, count: int = 1) -> list[pb.Settlement]:
    """Wait (bounded) until ``count`` settlements are queued: each one wakes the writer."""
    async with asyncio.timeout(5):
        while len(worker.settlements) < count:
            await worker.wake.wait()
            worker.wake.clear()
    return worker.settlements


async def threads_returned(worker: Worker) -> None:
    async def none_left() -> bool:
        return worker.abandoned == 0

    await eventually(none_left, timeout=5, interval=0.01, what="abandoned threads to return")


async def test_async_handler_is_cancelled_at_the_deadline() -> None:
    cancelled = asyncio.Event()
    seen: list[Job] = []

    async def hang(job: Job) -> None:
        seen.append(job)
        try:
            await asyncio.sleep(60)
        finally:
            cancelled.set()

    worker = worker_with(hang=hang)
    started = asyncio.get_running_loop().time()
    worker._start(message("hang"))
    (settlement,) = await settled(worker)
    took = asyncio.get_running_loop().time() - started
    assert cancelled.is_set() and seen[0].timed_out
    assert seen[0].timeout_seconds == LIMIT and seen[0].deadline is not None
    assert (settlement.success, settlement.no_retry, settlement.error_message) == (
        False, False, "timed out after 0.5s")  # a normal failed attempt: retried with backoff
    assert LIMIT - report_margin(LIMIT) - 0.05 <= took < LIMIT
    assert worker.credit == worker.window.size() and not worker.running  # its slot asked again


async def test_async_handler_that_swallows_the_cancellation_still_times_out() -> None:
    async def stubborn(job: Job) -> str:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            return "done anyway"
        return "never"

    worker = worker_with(stubborn=stubborn)
    worker._start(message("stubborn"))
    (settlement,) = await settled(worker)
    assert (settlement.success, settlement.error_message) == (False, "timed out after 0.5s")


async def test_handlers_own_timeout_error_is_an_ordinary_failure() -> None:
    async def own(job: Job) -> None:
        raise TimeoutError("upstream slow")

    worker = worker_with(own=own)
    worker._start(message("own"))
    (settlement,) = await settled(worker)
    assert settlement.error_message == "TimeoutError: upstream slow"


async def test_fast_handler_and_jobs_without_limit_are_unchanged() -> None:
    async def quick(job: Job) -> dict[str, bool]:
        return {"ok": not job.timed_out}

    worker = worker_with(quick=quick)
    worker._start(message("quick"))
    worker._start(message("quick", timeout=0))
    done = await settled(worker, 2)
    assert [s.success for s in done] == [True, True]
    assert [s.result for s in done] == [b'{"ok":true}'] * 2


async def test_sync_handler_is_reported_at_the_deadline_and_its_thread_runs_on() -> None:
    release = threading.Event()
    saw_flag = threading.Event()

    def blocked(job: Job) -> None:
        release.wait(30)
        if job.timed_out:
            saw_flag.set()

    worker = worker_with(max_jobs=2, blocked=blocked)
    worker._start(message("blocked"))
    (settlement,) = await settled(worker)
    assert (settlement.success, settlement.error_message) == (False, "timed out after 0.5s")
    # the thread is still blocked: it uses one of the pool's spare threads, so the slot is free
    assert worker.abandoned == 1 and worker.holding == 0 and not worker.running
    assert worker.credit == worker.window.size() and not worker.slots.locked()
    release.set()
    await threads_returned(worker)
    assert saw_flag.is_set() and worker.credit == worker.window.size()
    worker.threads.shutdown(wait=True)


async def test_past_the_spares_a_slot_waits_for_its_thread() -> None:
    release = threading.Event()

    def blocked(job: Job) -> None:
        release.wait(30)

    worker = worker_with(max_jobs=1, blocked=blocked)
    worker._start(message("blocked"))
    await settled(worker, 1)
    # a spare thread: slot free at once
    assert (worker.abandoned, worker.holding, worker.credit) == (1, 0, 1)
    assert not worker.slots.locked()
    worker._start(message("blocked"))
    await settled(worker, 2)
    # no spare left: the attempt is reported, but the slot stays taken until the thread returns
    assert (worker.abandoned, worker.holding) == (2, 1) and worker.slots.locked()
    assert [s.error_message for s in worker.settlements] == ["timed out after 0.5s"] * 2
    release.set()
    await threads_returned(worker)
    assert worker.holding == 0 and not worker.slots.locked()  # every slot came back
    worker.threads.shutdown(wait=True)


def test_time_left_follows_the_deadline_and_the_limit() -> None:
    assert time_left(message("t", timeout=0)) is None
    left = time_left(message("t", timeout=10))
    assert left is not None and 9.4 <= left <= 9.5
    late = message("t", timeout=10)
    late.deadline.FromDatetime(datetime.now(UTC) - timedelta(seconds=1))
    assert time_left(late) == 0.0
    skewed = message("t", timeout=2)  # a deadline further than the limit: the limit wins
    skewed.deadline.FromDatetime(datetime.now(UTC) + timedelta(seconds=60))
    assert time_left(skewed) == 2 - report_margin(2)
