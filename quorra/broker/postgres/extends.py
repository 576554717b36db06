"""Heartbeats batched across concurrent callers: each batch is one fenced UPDATE over
``unnest`` (``extend_many``); the group committer forms the batches. A lease the batch did not
match is retried alone, so its caller gets the precise ``LeaseLost``/``JobNotFound``. (Acks are
group-committed by the Postgres broker itself.) The Redis broker's PostgreSQL leases (grant
mode, and any mode while it falls back) are extended through it."""

from __future__ import annotations

import uuid
from datetime import datetime

from quorra.broker.postgres.broker import QUERIES, PostgresBroker
from quorra.broker.postgres.group_commit import GroupCommitter
from quorra.db.pool import Pool, connection

__all__ = ["ExtendBatcher"]

Extend = tuple[uuid.UUID, uuid.UUID, float]


class ExtendBatcher:
    def __init__(self, pool: Pool, postgres: PostgresBroker) -> None:
        self._pool = pool
        self._postgres = postgres
        self._extends: GroupCommitter[Extend, datetime | None] = GroupCommitter(
            self._extend_batch)

    async def extend(self, job_id: uuid.UUID, lease_id: uuid.UUID, ttl: float) -> datetime:
        (deadline,) = await self._extends.submit([(job_id, lease_id, ttl)])
        if deadline is None:
            return await self._postgres.extend(job_id, lease_id, ttl)
        return deadline

    async def _extend_batch(self, extends: list[Extend]) -> list[datetime | None]:
        params = {"ids": [e[0] for e in extends], "lease_ids": [e[1] for e in extends],
                  "ttls": [e[2] for e in extends]}
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["extend_many"], params)
            rows: dict[tuple[uuid.UUID, uuid.UUID], datetime] = {
                (row[0], row[1]): row[2] for row in await cur.fetchall()}
        return [rows.get((e[0], e[1])) for e in extends]  # matched by job and lease id
