"""Acks and heartbeats batched across concurrent callers: each batch is one fenced UPDATE
over ``unnest`` (``ack_many`` of the Postgres broker, ``extend_many`` here); the group committer
forms the batches. A job the batch
did not match is retried alone, so its caller gets the precise ``LeaseLost``/``JobNotFound``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from quorra.broker.base import Settled
from quorra.broker.postgres import PostgresBroker
from quorra.broker.postgres.group_commit import GroupCommitter
from quorra.broker.redis.supervisor import QUERIES
from quorra.db.pool import Pool, connection

__all__ = ["SettleBatcher"]

Ack = tuple[uuid.UUID, uuid.UUID, Any]
Extend = tuple[uuid.UUID, uuid.UUID, float]


class SettleBatcher:
    def __init__(self, pool: Pool, postgres: PostgresBroker) -> None:
        self._pool = pool
        self._postgres = postgres
        self._acks: GroupCommitter[Ack, Settled | None] = GroupCommitter(self._ack_batch)
        self._extends: GroupCommitter[Extend, datetime | None] = GroupCommitter(
            self._extend_batch)

    async def ack(self, job_id: uuid.UUID, lease_id: uuid.UUID, result: Any) -> Settled:
        (settled,) = await self._acks.submit([(job_id, lease_id, result)])
        if settled is None:  # not matched in the batch: the single ack raises the right error
            return await self._postgres.ack(job_id, lease_id, result)
        return settled

    async def extend(self, job_id: uuid.UUID, lease_id: uuid.UUID, ttl: float) -> datetime:
        (deadline,) = await self._extends.submit([(job_id, lease_id, ttl)])
        if deadline is None:
            return await self._postgres.extend(job_id, lease_id, ttl)
        return deadline

    async def _ack_batch(self, acks: list[Ack]) -> list[Settled | None]:
        settled = {s.id: s for s in await self._postgres.ack_many(acks)}
        return [settled.pop(job_id, None) for job_id, _, _ in acks]  # a duplicate settles once

    async def _extend_batch(self, extends: list[Extend]) -> list[datetime | None]:
        params = {"ids": [e[0] for e in extends], "lease_ids": [e[1] for e in extends],
                  "ttls": [e[2] for e in extends]}
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["extend_many"], params)
            rows: dict[uuid.UUID, datetime] = {row[0]: row[1] for row in await cur.fetchall()}
        return [rows.get(e[0]) for e in extends]
