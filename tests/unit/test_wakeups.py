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
