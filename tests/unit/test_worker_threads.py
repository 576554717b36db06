"""The worker's prefetch window and its sync-handler threads."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from quorra.core.errors import ConfigError
from quorra.worker.config import WorkerConfig
from quorra.worker.threads import HandlerThreads
from quorra.worker.window import SHORT_JOB, Window

tag: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="none")


def test_the_window_prefetches_only_while_jobs_are_short() -> None:
    window = Window(max_jobs=4, prefetch=8)
    assert window.size() == 4  # nothing known yet: no prefetch
    window.observe(0.01)
    assert window.size() == 12
    for _ in range(100):
        window.observe(SHORT_JOB * 4)
    assert window.size() == 4
    for _ in range(100):
        window.observe(0.001)
    assert window.size() == 12


def test_prefetch_setting() -> None:
    assert WorkerConfig.from_env({"QUORRA_WORKER_MAX_JOBS": "32"}).prefetch_jobs == 64
    assert WorkerConfig.from_env({"QUORRA_WORKER_MAX_JOBS": "1000"}).prefetch_jobs == 1000
    assert WorkerConfig.from_env({"QUORRA_WORKER_PREFETCH": "0"}).prefetch_jobs == 0
    with pytest.raises(ConfigError, match="QUORRA_WORKER_PREFETCH"):
        WorkerConfig.from_env({"QUORRA_WORKER_PREFETCH": "-1"})


async def test_threads_return_results_and_raise_errors_with_the_callers_context() -> None:
    threads = HandlerThreads(2)
    tag.set("caller")

    def work(n: int) -> tuple[int, str, str]:
        if n < 0:
            raise ValueError("negative")
        return n * 2, tag.get(), threading.current_thread().name

    try:
        doubled, seen, name = await threads.run(work, 21)
        assert (doubled, seen) == (42, "caller") and name.startswith("quorra-handler_")
        with pytest.raises(ValueError, match="negative"):
            await threads.run(work, -1)
    finally:
        threads.shutdown()


async def test_many_completions_wake_the_loop_far_fewer_times() -> None:
    threads = HandlerThreads(4)
    deliveries = 0
    deliver = threads._deliver

    def counted() -> None:
        nonlocal deliveries
        deliveries += 1
        deliver()

    threads._deliver = counted  # type: ignore[method-assign]
    release = threading.Event()
    try:
        futures = [threads.run(release.wait, 5) for _ in range(400)]
        release.set()
        assert all(await asyncio.wait_for(asyncio.gather(*futures), 10))
    finally:
        threads.shutdown()
    assert deliveries < 200, f"{deliveries} loop wake-ups for 400 calls"


async def test_at_most_size_calls_run_at_once_and_cancelled_calls_never_run() -> None:
    threads = HandlerThreads(3)
    lock, running, peak, ran = threading.Lock(), [0], [0], []
    gate = threading.Event()

    def work(i: int) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.wait(5)
        with lock:
            running[0] -= 1
            ran.append(i)

    try:
        futures = [threads.run(work, i) for i in range(10)]
        futures[9].cancel()  # still queued behind the first three
        gate.set()
        await asyncio.wait_for(asyncio.gather(*futures[:9]), 10)
    finally:
        threads.shutdown()
    assert peak[0] <= 3 and sorted(ran) == list(range(9))


async def test_threads_start_only_as_calls_need_them() -> None:
    threads = HandlerThreads(50)
    try:
        for _ in range(20):  # one at a time: the same idle thread takes each
            await threads.run(lambda: None)
        assert len(threads._threads) == 1
    finally:
        threads.shutdown()


def test_the_window_asks_in_batches_unless_slots_would_starve() -> None:
    window = Window(max_jobs=8, prefetch=16)
    window.observe(0.001)  # short jobs: 8 slots + 16 prefetched
    assert window.worth_asking(lacking=1, held=23) is False  # plenty held: wait for a batch
    assert window.worth_asking(lacking=4, held=20) is True  # a quarter of the prefetch
    assert window.worth_asking(lacking=1, held=7) is True  # a slot would go idle: ask now
    long = Window(max_jobs=8, prefetch=16)
    long.observe(SHORT_JOB * 2)  # long jobs: no prefetch, every freed slot asks at once
    assert long.worth_asking(lacking=1, held=7) is True
