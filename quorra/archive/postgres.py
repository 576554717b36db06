"""The archive over PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime

from quorra.archive.base import JobFilter, JobPage, page_of
from quorra.core.errors import JobNotFound
from quorra.core.jobs import Job, JobStatus, QueueCount
from quorra.core.limits import QueueLimits
from quorra.db.pool import Pool, connection
from quorra.db.rows import row_to_job
from quorra.db.sqlfiles import load_queries

__all__ = ["MAX_DEPENDENTS_SHOWN", "PostgresArchive"]

UNBOUNDED = 1 << 62
MAX_DEPENDENTS_SHOWN = 1000  # a job's page lists at most this many of its dependents

QUERIES = load_queries("quorra.archive")


class PostgresArchive:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def get(self, job_id: uuid.UUID) -> Job:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["get"], {"id": job_id,
                                                      "max_dependents": MAX_DEPENDENTS_SHOWN})
            row = await cur.fetchone()
        if row is None:
            raise JobNotFound()
        return row_to_job(row)

    async def recent(self, limit: int) -> list[Job]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["recent"], {"limit": limit})
            return [row_to_job(row) for row in await cur.fetchall()]

    async def list_jobs(self, where: JobFilter, *, limit: int,
                        after: tuple[datetime, uuid.UUID] | None = None,
                        max_bytes: int | None = None) -> JobPage:
        params = {"queue": where.queue, "type": where.type, "limit": limit + 1,
                  "prefix": where.prefix, "payload": where.payload,
                  "id_low": where.ids[0] if where.ids else None,
                  "id_high": where.ids[1] if where.ids else None,
                  "status": where.status.value if where.status else None,
                  "after_at": after[0] if after else None, "after_id": after[1] if after else None,
                  "max_bytes": max_bytes or UNBOUNDED}
        async with connection(self._pool) as conn:
            # Planned at every call, never prepared: only a plan made for these values drops
            # the filters left NULL and walks the index of the ones given (quorra_jobs_status_
            # recent, _queue_status_recent); a generic plan filters every row of
            # quorra_jobs_recent, which for a rare match is the whole table.
            cur = await conn.execute(QUERIES["list_jobs"], params, prepare=False)
            rows = await cur.fetchall()
        jobs = [row_to_job(row[:-1]) for row in itertools.takewhile(lambda r: not r[-1], rows)]
        return page_of(jobs[:limit], more=len(rows) > min(len(jobs), limit))

    async def queue_counts(self) -> list[QueueCount]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["queue_counts"])
            rows = await cur.fetchall()
        return [QueueCount(queue=q, status=JobStatus(s), count=n) for q, s, n in rows]

    async def queue_states(self) -> list[tuple[str, bool]]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["queue_states"])
            return [(queue, paused) for queue, paused in await cur.fetchall()]

    async def queue_limits(self) -> dict[str, QueueLimits]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["queue_limits"])
            return {queue: QueueLimits(max_concurrency=c, rate_limit=r, rate_period=p)
                    for queue, c, r, p in await cur.fetchall()}

    async def ready_for(self, queues: list[str], age: float) -> bool:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["ready_for"], {"queues": queues, "age": age})
            row = await cur.fetchone()
        return bool(row and row[0])

    async def ping(self) -> None:
        async with connection(self._pool) as conn:
            await conn.execute(QUERIES["ping"])
