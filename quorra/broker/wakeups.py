"""Local wake-ups for lessees waiting on queues. Each driver feeds them: from this process's
own enqueues, and from what other servers announce (LISTEN/NOTIFY for the Postgres broker, the
pub/sub channel ``dispatch.lua`` publishes to for the Redis broker)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator, Sequence

from quorra.core.waiting import wait_event

__all__ = ["Wakeups"]


class Wakeups:
    def __init__(self) -> None:
        self._waiters: dict[asyncio.Event, frozenset[str]] = {}

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        with self.listen(queues) as woken:
            await self.until(woken, timeout)

    @contextlib.contextmanager
    def listen(self, queues: Sequence[str]) -> Iterator[asyncio.Event]:
        """An event set by the next wake-up of these queues: register before looking, so a
        wake-up that comes while the caller looks is not lost."""
        event = asyncio.Event()
        self._waiters[event] = frozenset(queues)
        try:
            yield event
        finally:
            del self._waiters[event]

    @staticmethod
    async def until(woken: asyncio.Event, timeout: float) -> None:
        await wait_event(woken, timeout)

    def wake(self, queues: Iterable[str] | None) -> None:
        """Wake waiters on these queues (``None``: everyone)."""
        wanted = None if queues is None else set(queues)
        for event, theirs in self._waiters.items():
            if wanted is None or not wanted.isdisjoint(theirs):
                event.set()
