"""Queue limits in PostgreSQL (``limits.sql``): which queues are limited, and the lease of one
limited queue, which holds the queue's row lock while it counts running jobs and spends its rate
window, so lessees on every replica together never exceed a limit."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from quorra.core.limits import QueueLimits
from quorra.db.pool import Pool, connection
from quorra.db.sqlfiles import load_queries

__all__ = ["REFRESH", "Limiter"]

QUERIES = load_queries("quorra.broker.postgres")
LIMITS = load_queries("quorra.broker.postgres", "limits.sql")
REFRESH = 1.0  # seconds a replica may lease a newly limited queue's jobs late (never over it)
Row = tuple[Any, ...]


class Limiter:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._held: frozenset[str] = frozenset()
        self._read_at = -math.inf
        self._reopens: dict[str, float] = {}  # queue -> monotonic time its rate window reopens

    async def limited(self, queues: Sequence[str]) -> list[str]:
        """Those of ``queues`` that have a limit (as read at most ``REFRESH`` s ago). A queue
        limited since is left out by the plain lease query itself, so never leased over it."""
        if time.monotonic() - self._read_at > REFRESH:
            async with connection(self._pool) as conn:
                cur = await conn.execute(LIMITS["limited_queues"])
                self._held = frozenset(row[0] for row in await cur.fetchall())
            self._read_at = time.monotonic()
        return [queue for queue in queues if queue in self._held]

    def touched(self, queues: Iterable[str]) -> set[str]:
        """Those of ``queues`` known to be limited (settling their jobs frees a slot)."""
        return {queue for queue in queues if queue in self._held}

    async def lease(self, queue: str, params: dict[str, Any]) -> list[Row]:
        """Lease up to ``params["limit"]`` jobs of ``queue`` within its limits (one
        transaction: lock the limits, lease, spend the rate window)."""
        async with connection(self._pool) as conn, conn.transaction():
            await conn.execute(LIMITS["lock_limits"], {"queue": queue})
            cur = await conn.execute(LIMITS["limit_room"], {"queue": queue})
            allowed = self._allowed(queue, await cur.fetchone(), params["limit"])
            if allowed <= 0:
                return []
            cur = await conn.execute(QUERIES["lease"], {**params, "queues": [queue],
                                                        "limit": allowed, "limited": True},
                                     prepare=False)
            rows = await cur.fetchall()
            if rows:
                await conn.execute(LIMITS["spend_rate"], {"queue": queue, "n": len(rows)})
            return rows

    def _allowed(self, queue: str, row: Row | None, want: int) -> int:
        if row is None:  # no row: neither limited nor paused any more
            return want
        paused, free, tokens, reopens_in = row
        if paused:
            return 0
        if tokens is not None and tokens <= 0:
            self._reopens[queue] = time.monotonic() + reopens_in
        return int(min(want, *(n for n in (free, tokens) if n is not None)))

    def wait_limit(self, queues: Sequence[str], timeout: float) -> float:
        """``timeout``, cut to when the first spent rate window of ``queues`` reopens."""
        now = time.monotonic()
        for queue in queues:
            reopens = self._reopens.get(queue)
            if reopens is not None:
                if reopens <= now:
                    del self._reopens[queue]
                timeout = min(timeout, max(reopens - now, 0.001))
        return timeout

    async def get(self, queue: str) -> QueueLimits:
        async with connection(self._pool) as conn:
            cur = await conn.execute(LIMITS["get_limits"], {"queue": queue})
            row = await cur.fetchone()
        if row is None:
            return QueueLimits()
        return QueueLimits(max_concurrency=row[0], rate_limit=row[1], rate_period=row[2])

    async def set(self, queue: str, limits: QueueLimits) -> None:
        async with connection(self._pool) as conn:
            await conn.execute(LIMITS["set_limits"], {"queue": queue, **_fields(limits)})
        # this replica knows at once; the others within REFRESH
        self._held = self._held | {queue} if limits.any else self._held - {queue}


def _fields(limits: QueueLimits) -> dict[str, Any]:
    return {"max_concurrency": limits.max_concurrency, "rate_limit": limits.rate_limit,
            "rate_period": limits.rate_period}
