"""The Postgres-only broker: each operation is one named query from ``queries.sql``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

from quorra.broker.base import Settled
from quorra.broker.postgres.group_commit import GroupCommitter
from quorra.broker.postgres.waker import Waker
from quorra.core.errors import InvalidTransition, JobNotFound, LeaseLost
from quorra.core.jobs import Enqueued, Job, JobSpec, JobStatus
from quorra.db.pool import Pool, connection
from quorra.db.rows import row_to_job
from quorra.db.sqlfiles import load_queries

__all__ = ["PostgresBroker"]

QUERIES = load_queries("quorra.broker.postgres")
_encode = msgspec.json.encode


def _columns(specs: Sequence[JobSpec]) -> dict[str, list[Any]]:
    return {
        "ids": [s.id for s in specs],
        "types": [s.type for s in specs],
        "queues": [s.queue for s in specs],
        "payloads": [s.payload.decode() for s in specs],
        "priorities": [s.priority for s in specs],
        "max_retries": [s.max_retries for s in specs],
        "run_ats": [s.run_at for s in specs],
        "delays": [s.delay_seconds for s in specs],
    }


def _settled(row: tuple[Any, ...]) -> Settled:
    return Settled(id=row[0], queue=row[1], status=JobStatus(row[2]), ran_seconds=row[3])


class PostgresBroker:
    def __init__(self, pool: Pool, url: str, *,
                 poll_interval: float = 0.5, group_commit: bool = True) -> None:
        self._pool = pool
        self._poll_interval = poll_interval
        self._waker = Waker(url, pool)
        self._committer: GroupCommitter[JobSpec, Enqueued] | None = (
            GroupCommitter(self._insert) if group_commit else None
        )

    async def start(self) -> None:
        self._waker.start()

    async def close(self) -> None:
        await self._waker.close()

    async def enqueue(self, specs: Sequence[JobSpec]) -> list[Enqueued]:
        if self._committer is None:
            return await self._insert(specs)
        return await self._committer.submit(specs)

    async def _insert(self, specs: Sequence[JobSpec]) -> list[Enqueued]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["enqueue"], _columns(specs))
            rows = await cur.fetchall()
            by_id = {row[0]: row for row in rows}
            known = list({s.id for s in specs if s.id not in by_id})
            if known:  # ids already stored: a producer's retry is answered with the stored job
                cur = await conn.execute(QUERIES["enqueue_known"], {"ids": known})
                by_id.update({row[0]: row for row in await cur.fetchall()})
        self._waker.announce({row[3] for row in rows if row[4]})
        fresh = {row[0] for row in rows}
        done = []
        for s in specs:  # an id given twice in one batch is created once, by its first place
            done.append(Enqueued(id=s.id, status=JobStatus(by_id[s.id][1]), run_at=by_id[s.id][2],
                                 created=s.id in fresh))
            fresh.discard(s.id)
        return done

    async def lease(self, queues: Sequence[str], *, worker_id: str, limit: int,
                    ttl: float) -> list[Job]:
        params = {"queues": list(queues), "limit": limit, "worker_id": worker_id, "ttl": ttl}
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["lease"], params)
            jobs = [row_to_job(row) for row in await cur.fetchall()]
        jobs.sort(key=lambda job: (-job.priority, job.run_at, job.id))
        return jobs

    async def ack(self, job_id: uuid.UUID, lease_id: uuid.UUID, result: Any = None) -> Settled:
        encoded = None if result is None else _encode(result).decode()
        row = await self._fenced("ack", {"id": job_id, "lease_id": lease_id, "result": encoded})
        return _settled(row)

    async def ack_many(self, acks: Sequence[tuple[uuid.UUID, uuid.UUID, Any]]
                       ) -> list[Settled]:
        if not acks:
            return []
        params = {"ids": [a[0] for a in acks], "lease_ids": [a[1] for a in acks],
                  "results": [None if a[2] is None else _encode(a[2]).decode() for a in acks]}
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["ack_many"], params)
            return [_settled(row) for row in await cur.fetchall()]

    async def nack(self, job_id: uuid.UUID, lease_id: uuid.UUID, error: str, *,
                   retry: bool = True) -> Settled:
        params = {"id": job_id, "lease_id": lease_id, "error": error, "retry": retry}
        return _settled(await self._fenced("nack", params))

    async def extend(self, job_id: uuid.UUID, lease_id: uuid.UUID, ttl: float) -> datetime:
        row = await self._fenced("extend", {"id": job_id, "lease_id": lease_id, "ttl": ttl})
        deadline: datetime = row[0]
        return deadline

    async def _fenced(self, query: str, params: dict[str, Any]) -> tuple[Any, ...]:
        """Run a lease-fenced update; no row means the lease is lost (or the job unknown)."""
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES[query], params)
            row = await cur.fetchone()
            if row is not None:
                return row
            cur = await conn.execute(QUERIES["exists"], {"id": params["id"]})
            if await cur.fetchone() is None:
                raise JobNotFound()
        raise LeaseLost()

    async def release(self, leases: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> list[uuid.UUID]:
        if not leases:
            return []
        params = {"ids": [job for job, _ in leases], "lease_ids": [lease for _, lease in leases]}
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["release"], params)
            rows = await cur.fetchall()
        self._waker.announce({row[1] for row in rows})
        return [row[0] for row in rows]

    async def reap_expired(self, limit: int = 500) -> list[Settled]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["reap_expired"], {"limit": limit})
            return [_settled(row) for row in await cur.fetchall()]

    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        await self._waker.wait(queues, min(timeout, self._poll_interval))

    async def retry(self, job_id: uuid.UUID) -> Job:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["retry"], {"id": job_id})
            row = await cur.fetchone()
            if row is None:
                await self._must_exist(conn, job_id)
                raise InvalidTransition("only a dead or cancelled job can be retried")
        job = row_to_job(row)
        self._waker.announce({job.queue})
        return job

    async def retry_dead(self, queue: str) -> int:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["retry_dead"], {"queue": queue})
            count = len(await cur.fetchall())
        if count:
            self._waker.announce({queue})
        return count

    async def delete(self, job_id: uuid.UUID) -> None:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["delete"], {"id": job_id})
            if await cur.fetchone() is None:
                await self._must_exist(conn, job_id)
                raise InvalidTransition("a leased job cannot be deleted; wait for its worker")

    @staticmethod
    async def _must_exist(conn: AsyncConnection[Any], job_id: uuid.UUID) -> None:
        cur = await conn.execute(QUERIES["exists"], {"id": job_id})
        if await cur.fetchone() is None:
            raise JobNotFound()
