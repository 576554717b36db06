"""Stream leases reach PostgreSQL here, in batches and off the lease path.

A lease made in Redis is queued; every ``tick`` the leases queued for at least ``interval``
are written in one fenced UPDATE (``stream_queries.sql`` ``record``: only a row still 'pending'
with the lease's seq is recorded). A lease settled before its turn is simply dropped from the
queue: a job that runs (and is acked) within ``interval`` goes from pending to its outcome in
one row write, so the longer the interval, the fewer leases cost a write of their own. While
PostgreSQL is up, a lease is recorded at most ``interval`` plus one ``tick`` plus one statement
after it was made (≤ 1 s with the defaults, 0.75 s and 0.1 s); while it is away, the queue waits
and is written when it returns.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Iterable
from typing import LiteralString

import msgspec

from quorra.core.errors import QuorraError
from quorra.db.pool import Pool, connection

__all__ = ["LeaseRecorder", "Record"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class Record:
    """One lease as PostgreSQL will learn it (``deadline_ms`` follows heartbeats)."""

    id: uuid.UUID
    seq: int
    lease_id: uuid.UUID
    leased_ms: int
    deadline_ms: int
    worker: str
    queue: str
    limit_ms: int | None = None  # the job's deadline (no heartbeat moves deadline_ms past it)
    queued_at: float = dataclasses.field(default_factory=time.monotonic)


class _Row(msgspec.Struct):
    id: uuid.UUID
    seq: int
    lease_id: uuid.UUID
    leased_ms: int
    deadline_ms: int
    worker: str


class LeaseRecorder:
    def __init__(self, pool: Pool, query: LiteralString, *, interval: float = 0.75,
                 tick: float = 0.1) -> None:
        self._pool = pool
        self._query = query
        self.interval = interval  # a lease is written once it is this old (seconds)
        self.tick = min(tick, interval)
        self._queued: dict[uuid.UUID, Record] = {}  # by lease id, oldest first
        self._inflight: dict[uuid.UUID, Record] = {}
        self._lock = asyncio.Lock()
        self._idle = asyncio.Event()
        self._idle.set()
        self.recorded = 0  # leases written (for measurements)
        self.statements = 0

    def add(self, records: Iterable[Record]) -> None:
        for record in records:
            self._queued[record.lease_id] = record

    def discard(self, lease_ids: Iterable[uuid.UUID]) -> None:
        """These leases were settled in PostgreSQL: recording them would be a wasted write."""
        for lease_id in lease_ids:
            self._queued.pop(lease_id, None)

    def drop_queued(self) -> int:
        """Forget every lease not being written: Redis was emptied or replaced, so they are
        gone, and their jobs (still pending in PostgreSQL) are dispatched again; recording them
        now would only make PostgreSQL wait for leases nobody can settle."""
        dropped = len(self._queued)
        self._queued.clear()
        return dropped

    def find(self, lease_id: uuid.UUID) -> Record | None:
        """A lease of this process PostgreSQL may not know yet (queued or being written)."""
        return self._queued.get(lease_id) or self._inflight.get(lease_id)

    def moved(self, lease_id: uuid.UUID, deadline_ms: int) -> bool:
        """A heartbeat: True when the lease is still queued (its record carries the new
        deadline, nothing else to write)."""
        record = self._queued.get(lease_id)
        if record is None:
            return False
        record.deadline_ms = deadline_ms
        return True

    async def disowned(self, lease_id: uuid.UUID) -> None:
        """Redis no longer vouches for this lease (lost with its dataset, or expired): never
        record it if it is still queued (a worker refused now would leave PostgreSQL a lease
        nobody settles); if it is being written, wait, so PostgreSQL's record decides."""
        self._queued.pop(lease_id, None)
        await self.written(lease_id)

    async def written(self, lease_id: uuid.UUID) -> None:
        """Return once a write that includes ``lease_id`` (if any is running) has finished."""
        while lease_id in self._inflight:
            await self._idle.wait()

    @property
    def backlog(self) -> int:
        return len(self._queued) + len(self._inflight)

    async def run(self) -> None:
        """The background loop (supervised by the broker)."""
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.flush(older_than=self.interval)
            except QuorraError as exc:  # PostgreSQL away: keep the queue, try again
                log.warning("lease records postponed: %s", exc)

    async def flush(self, *, older_than: float = 0.0) -> int:
        """Write the leases queued for at least ``older_than`` seconds (all by default) now;
        returns how many PostgreSQL recorded."""
        async with self._lock:
            due = self._due(time.monotonic() - older_than)
            if not due:
                return 0
            self._inflight = {k: self._queued.pop(k) for k in due}
            self._idle.clear()
            try:
                return await self._write(list(self._inflight.values()))
            except BaseException:  # not written: queued again, still the oldest
                self._queued = {**self._inflight, **self._queued}
                raise
            finally:
                self._inflight = {}
                self._idle.set()

    def _due(self, cutoff: float) -> list[uuid.UUID]:
        """The leases queued at or before ``cutoff``: a prefix of the queue (kept in the order
        they were queued), so a tick looks only at what it writes, plus one."""
        due = []
        for lease_id, record in self._queued.items():
            if record.queued_at > cutoff:
                break
            due.append(lease_id)
        return due

    async def _write(self, records: list[Record]) -> int:
        rows = [_Row(r.id, r.seq, r.lease_id, r.leased_ms, r.deadline_ms, r.worker)
                for r in records]
        async with connection(self._pool) as conn:
            cur = await conn.execute(self._query, {"leases": msgspec.json.encode(rows).decode()})
            written = len(await cur.fetchall())
        self.statements += 1
        self.recorded += written
        return written
