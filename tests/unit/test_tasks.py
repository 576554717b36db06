"""Background tasks never die silently: restarted with backoff, or their owner is told."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from quorra.core.tasks import FAILURES, Backoff, raise_if_cancelling, spawn, supervise


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(first=0.1, cap=0.5)
    assert [backoff.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next() == 0.1


async def test_supervise_logs_and_restarts_a_failed_body(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    done = asyncio.Event()

    async def body() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError(f"injected failure {len(runs)}")
        done.set()

    before = FAILURES["test-body"]
    task = supervise("test-body", body, first=0.01, cap=0.02)
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.wait_for(task, 5)  # a body that returns ends its supervision
    assert len(runs) == 3 and FAILURES["test-body"] - before == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and "test-body failed; restarting it" in errors[0].getMessage()
    assert errors[0].exc_info is not None and "injected failure 1" in str(errors[0].exc_info[1])


async def test_supervise_stops_when_cancelled() -> None:
    started = asyncio.Event()

    async def body() -> None:
        started.set()
        await asyncio.Event().wait()

    task = supervise("test-forever", body)
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_spawn_reports_a_failure_to_its_owner(caplog: pytest.LogCaptureFixture) -> None:
    told: list[BaseException] = []
    keep: set[asyncio.Task[object]] = set()

    async def fails() -> None:
        raise ValueError("injected")

    task = spawn("test-oneshot", fails(), on_error=told.append, keep=keep)
    with pytest.raises(ValueError, match="injected"):
        await task
    await asyncio.sleep(0)  # done callbacks run on the next loop turn
    assert [str(e) for e in told] == ["injected"] and not keep
    assert any(r.levelno == logging.ERROR and "test-oneshot" in r.getMessage()
               for r in caplog.records)


async def test_spawn_is_quiet_on_success_and_cancel(caplog: pytest.LogCaptureFixture) -> None:
    told: list[BaseException] = []
    ok = spawn("test-ok", asyncio.sleep(0), on_error=told.append)
    hangs = spawn("test-cancelled", asyncio.Event().wait(), on_error=told.append)
    await ok
    hangs.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hangs
    await asyncio.sleep(0)
    assert told == [] and not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_cancel_the_body_turned_into_an_error_stops_the_task() -> None:
    """A library that catches the cancel and raises its own error must not make the
    supervisor restart the body: the task was asked to stop, and it stops."""
    runs: list[int] = []
    waiting = asyncio.Event()

    async def translating() -> None:
        runs.append(1)
        waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("connection closed") from None

    task = supervise("t", translating, first=0.01)
    await asyncio.wait_for(waiting.wait(), 2)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert done and task.cancelled() and runs == [1]


async def test_a_loop_whose_cancel_was_swallowed_stops_at_its_next_turn() -> None:
    """A library that swallows the cancel (returns as if nothing happened) leaves the task
    'cancelling': the loop's check at the top of each turn ends it."""
    turns: list[int] = []
    waiting = asyncio.Event()

    async def swallowing_loop() -> None:
        while True:
            raise_if_cancelling()
            turns.append(1)
            waiting.set()
            with contextlib.suppress(asyncio.CancelledError):  # a lost cancel, as a loop sees it
                await asyncio.Event().wait()

    task = asyncio.create_task(swallowing_loop())
    await asyncio.wait_for(waiting.wait(), 2)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert done and task.cancelled() and turns == [1]
    raise_if_cancelling()  # not cancelling here: no effect
