"""The supervisor of stream leases: dispatch carries job bodies, and proposals made stale by
leases this replica took from PostgreSQL (while Redis was away or being rebuilt) are dropped
once Redis leases again."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from quorra.broker.redis.index import Entry
from quorra.broker.redis.stream_index import BodyEntry, StreamIndex, encode_body
from quorra.broker.redis.supervisor import Supervisor
from quorra.core.errors import DispatchUnavailable
from quorra.core.limits import QueueLimits
from quorra.db.pool import connection
from quorra.db.sqlfiles import load_queries

__all__ = ["STREAM_QUERIES", "StreamSupervisor", "body_entries"]

log = logging.getLogger(__name__)

STREAM_QUERIES = load_queries("quorra.broker.redis", "stream_queries.sql")
_PAGE = 1000


def body_entries(rows: Iterable[Sequence[Any]]) -> list[Entry]:
    """Rows ``(id, queue, seq, priority, run_at, type, payload text, attempts, max_retries,
    created_at, last_error, timeout_seconds, traceparent)`` as proposals with their bodies."""
    return [BodyEntry(job_id=r[0], queue=r[1], seq=r[2], priority=r[3], run_at=r[4],
                      body=encode_body(type_=r[5], payload=r[6].encode(), priority=r[3],
                                       attempts=r[7], max_retries=r[8], run_at=r[4],
                                       created_at=r[9], last_error=r[10], timeout=r[11],
                                       traceparent=r[12]))
            for r in rows]


class StreamSupervisor(Supervisor):
    index: StreamIndex

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # jobs this replica leased from PostgreSQL: a proposal of theirs still in Redis (or
        # swept in meanwhile) is stale, and a stream lease has no grant to refuse it
        self.postgres_leased: dict[str, set[uuid.UUID]] = defaultdict(set)
        self.on_rebuild: Callable[[], None] = lambda: None

    async def _rebuild(self) -> None:
        self.on_rebuild()  # before the sweep reads which jobs are pending
        await super()._rebuild()

    async def mirror_limits(self) -> None:
        async with connection(self._pool) as conn:
            cur = await conn.execute(STREAM_QUERIES["queue_limits"])
            rows = await cur.fetchall()
        for queue, concurrency, rate, period in rows:
            limits = QueueLimits(max_concurrency=concurrency, rate_limit=rate, rate_period=period)
            await self.index.set_limits(queue, limits, fresh=False)

    async def bodies(self, ids: Sequence[uuid.UUID]) -> list[Entry]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(STREAM_QUERIES["dispatch_rows"], {"ids": list(ids)})
            return body_entries(await cur.fetchall())

    async def dispatch_ids(self, ids: Sequence[uuid.UUID]) -> None:
        if not ids or not self.state.dispatches:
            return
        await self.try_dispatch(await self.bodies(ids))

    async def _propose_page(self, entries: Sequence[Entry]) -> int:
        """Only the jobs Redis does not hold, with their bodies (read for those alone)."""
        by_queue: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            by_queue[entry.queue].append(entry)
        missing: list[uuid.UUID] = []
        for queue, group in by_queue.items():
            known = await self.index.known(queue, group)
            missing += [e.job_id for e, k in zip(group, known, strict=True) if not k]
        if missing:
            await self.dispatch(await self.bodies(missing))
        return len(missing)

    def leased_from_postgres(self, jobs: Iterable[tuple[str, uuid.UUID]]) -> None:
        for queue, job_id in jobs:
            self.postgres_leased[queue].add(job_id)

    async def forget_postgres_leases(self) -> None:
        """Drop the proposals of jobs leased from PostgreSQL (a job pending again under a newer
        seq loses its proposal too; the repair sweep makes it again)."""
        while self.postgres_leased:
            queue, ids = self.postgres_leased.popitem()
            try:
                for start in range(0, len(ids), _PAGE):
                    await self.index.forget(queue, list(ids)[start : start + _PAGE])
            except DispatchUnavailable:
                self.postgres_leased[queue] |= ids
                raise
            log.info("dropped Redis proposals of %d jobs leased from PostgreSQL in %s",
                     len(ids), queue)
