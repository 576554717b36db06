"""Bounded waits: the answer says whether the event came, and a cancel is never lost."""

from __future__ import annotations

import asyncio
import time

from quorra.core.waiting import wait_event


async def test_wait_event_says_whether_the_event_came() -> None:
    event = asyncio.Event()
    started = time.monotonic()
    assert await wait_event(event, 0.05) is False
    assert 0.04 <= time.monotonic() - started < 5
    asyncio.get_running_loop().call_soon(event.set)
    assert await wait_event(event, 30) is True
    assert await wait_event(event, 0) is True  # already set: no wait at all


async def test_a_cancel_in_the_same_iteration_as_the_event_propagates() -> None:
    for _ in range(50):
        event = asyncio.Event()
        task = asyncio.create_task(wait_event(event, 30))
        await asyncio.sleep(0)  # waiting
        event.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done == {task}
        assert task.cancelled()
