"""Bounded waits that never lose a cancel.

On Python 3.11, ``asyncio.wait_for`` returns normally when the task is cancelled in the same
loop iteration as the awaited thing completes (CPython gh-86296, fixed in 3.12): the cancel
is lost and a loop meant to stop runs on for ever. A server replica's teardown hung that way
(the webhook delivery loop, woken as it was cancelled). Every bounded wait in Quorra goes
through ``asyncio.timeout`` instead (ruff bans ``asyncio.wait_for`` in the tree)."""

from __future__ import annotations

import asyncio

__all__ = ["wait_event"]


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass (``None``: no limit); whether
    it is set. A cancel always propagates."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(None if timeout is None else max(timeout, 0.0)):
            await event.wait()
    except TimeoutError:
        return False
    return True
