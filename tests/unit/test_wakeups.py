"""Local wake-ups: a wake-up that comes while a lessee looks (after it registered) is kept."""

from __future__ import annotations

import asyncio
import time

from quorra.broker.wakeups import Wakeups


async def test_wake_during_look_is_not_lost() -> None:
    wakeups = Wakeups()
    with wakeups.listen(["a"]) as woken:
        wakeups.wake(["a"])  # arrives while the caller is still looking (e.g. a Redis call)
        started = time.monotonic()
        await wakeups.until(woken, 30)
    assert time.monotonic() - started < 1


async def test_wake_of_other_queues_does_not_wake() -> None:
    wakeups = Wakeups()
    with wakeups.listen(["a"]) as woken:
        wakeups.wake(["b"])
        assert not woken.is_set()
        wakeups.wake(None)  # everyone
        assert woken.is_set()


async def test_wait_returns_on_wake_and_after_timeout() -> None:
    wakeups = Wakeups()
    waiter = asyncio.create_task(wakeups.wait(["a"], 30))
    await asyncio.sleep(0)  # let it register
    wakeups.wake(["a"])
    await asyncio.wait_for(waiter, 5)
    started = time.monotonic()
    await wakeups.wait(["a"], 0.05)
    assert 0.04 <= time.monotonic() - started < 5


async def test_a_cancel_that_comes_with_a_wake_up_stops_the_waiter() -> None:
    """The loop a replica's shutdown cancels (e.g. webhook delivery) waits here; a wake-up in
    the same loop iteration as the cancel must not eat the cancel (Python 3.11's wait_for
    did, and the replica's teardown hung)."""
    wakeups = Wakeups()

    async def lessee() -> None:
        for _ in range(3):  # a stop that was lost finishes the loop instead of raising
            await wakeups.wait(["a"], 30)

    for _ in range(50):
        task = asyncio.create_task(lessee())
        await asyncio.sleep(0)  # registered, waiting
        wakeups.wake(["a"])
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done == {task}
        assert task.cancelled()
