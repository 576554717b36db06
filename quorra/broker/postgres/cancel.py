"""Cancel in PostgreSQL (``cancel`` and ``cancel_many`` in ``queries.sql``) and the telling of
voided leases: to this process's hooks at once, to other replicas by NOTIFY. Part of
``PostgresBroker``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

from quorra.broker.base import CancelHook, Cancelled
from quorra.broker.postgres.waker import Waker
from quorra.core.errors import InvalidTransition, JobNotFound
from quorra.core.jobs import JobStatus
from quorra.db.pool import Pool, connection
from quorra.db.rows import row_to_job
from quorra.db.sqlfiles import load_queries

__all__ = ["CancelRow", "Cancels"]

QUERIES = load_queries("quorra.broker.postgres")


class CancelRow(msgspec.Struct, frozen=True):
    """A job a cancel moved to ``cancelled``, with what its Redis proposal was made of (the
    ``dispatch_seq`` before the cancel, priority, run_at): enough for Redis to drop it."""

    cancelled: Cancelled
    seq: int
    priority: int
    run_at: datetime


class Cancels:
    """The cancel operations of ``PostgresBroker`` (which provides the pool, the waker and the
    hooks)."""

    _pool: Pool
    _waker: Waker
    _cancel_hooks: list[CancelHook]

    async def cancel(self, job_id: uuid.UUID) -> Cancelled:
        cancelled, _ = await self.cancel_row(job_id)
        await self.announce_cancelled([cancelled])
        return cancelled

    async def cancel_row(self, job_id: uuid.UUID) -> tuple[Cancelled, CancelRow | None]:
        """The cancel in PostgreSQL alone (no announcement): the outcome, and the row it
        changed (None when the job was cancelled already)."""
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["cancel"], {"id": job_id})
            row = await cur.fetchone()
            if row is None:
                return await self._not_cancelled(conn, job_id), None
        *columns, voided, seq = row
        job = row_to_job(tuple(columns))
        cancelled = Cancelled(id=job.id, queue=job.queue, changed=True, lease_id=voided, job=job)
        return cancelled, CancelRow(cancelled, seq, job.priority, job.run_at)

    @staticmethod
    async def _not_cancelled(conn: AsyncConnection[Any], job_id: uuid.UUID) -> Cancelled:
        cur = await conn.execute(QUERIES["job"], {"id": job_id})
        row = await cur.fetchone()
        if row is None:
            raise JobNotFound()
        job = row_to_job(row)
        if job.status is not JobStatus.CANCELLED:
            raise InvalidTransition(f"a {job.status.value} job cannot be cancelled")
        return Cancelled(id=job.id, queue=job.queue, changed=False, job=job)

    async def cancel_many(self, queue: str | None, type_: str | None,
                          limit: int) -> list[Cancelled]:
        rows = await self.cancel_many_rows(queue, type_, limit)
        cancelled = [row.cancelled for row in rows]
        await self.announce_cancelled(cancelled)
        return cancelled

    async def cancel_many_rows(self, queue: str | None, type_: str | None,
                               limit: int) -> list[CancelRow]:
        params = {"queue": queue, "type": type_, "limit": limit}
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["cancel_many"], params)
            rows = await cur.fetchall()
        return [CancelRow(Cancelled(id=r[0], queue=r[1], changed=True, lease_id=r[2]), r[3], r[4],
                          r[5]) for r in rows]

    def on_cancel(self, hook: CancelHook) -> None:
        self._cancel_hooks.append(hook)

    def tell_cancelled(self, job_id: uuid.UUID, lease_id: uuid.UUID) -> None:
        """Pass a voided lease to this process's hooks (a worker session holding it)."""
        for hook in self._cancel_hooks:
            hook(job_id, lease_id)

    async def announce_cancelled(self, cancelled: Sequence[Cancelled]) -> None:
        """Voided leases: told to this process at once, to the other replicas by NOTIFY (a
        lost notification is covered by the worker's next heartbeat, refused)."""
        pairs = [(c.id, c.lease_id) for c in cancelled if c.lease_id is not None]
        await self.announce_voided(pairs)

    async def announce_voided(self, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        if not pairs:
            return
        for job_id, lease_id in pairs:
            self.tell_cancelled(job_id, lease_id)
        await self._waker.notify_cancel(pairs)
