"""Cron schedules over PostgreSQL (``schedules.sql``)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, LiteralString

import msgspec
import psycopg

from quorra.core.errors import InvalidTransition, ScheduleNotFound
from quorra.core.schedules import JobTemplate, Schedule
from quorra.db.pool import Pool, connection
from quorra.db.sqlfiles import load_queries

__all__ = ["PostgresSchedules", "PostgresTicks"]

QUERIES = load_queries("quorra.archive", "schedules.sql")
_ENCODER = msgspec.json.Encoder()


def _row(row: tuple[Any, ...]) -> Schedule:
    name, cron, timezone, job, paused, next_run_at, last_run_at, last_job_id, created, updated = row
    return Schedule(name=name, cron=cron, timezone=timezone,
                    job=msgspec.convert(job, JobTemplate), paused=paused,
                    next_run_at=next_run_at, last_run_at=last_run_at, last_job_id=last_job_id,
                    created_at=created, updated_at=updated)


def _params(schedule: Schedule) -> dict[str, Any]:
    return {"name": schedule.name, "cron": schedule.cron, "timezone": schedule.timezone,
            "job": _ENCODER.encode(schedule.job).decode(), "paused": schedule.paused,
            "next_run_at": schedule.next_run_at}


class PostgresTicks:
    """The due schedules one claim locked, and the bookkeeping of each tick (same
    transaction: committed together when the claim ends)."""

    def __init__(self, conn: psycopg.AsyncConnection[tuple[Any, ...]],
                 due: list[Schedule]) -> None:
        self._conn = conn
        self.due = due

    async def advance(self, name: str, *, fired_at: datetime, job_id: uuid.UUID,
                      next_run_at: datetime) -> None:
        await self._conn.execute(QUERIES["advance"], {
            "name": name, "last_run_at": fired_at, "job_id": job_id,
            "next_run_at": next_run_at})


class PostgresSchedules:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def _one(self, query: LiteralString, params: dict[str, Any]) -> Schedule | None:
        async with connection(self._pool) as conn:
            cur = await conn.execute(query, params)
            row = await cur.fetchone()
        return None if row is None else _row(row)

    async def create(self, schedule: Schedule) -> Schedule:
        created = await self._one(QUERIES["create"], _params(schedule))
        if created is None:
            raise InvalidTransition(f"a schedule named {schedule.name!r} exists")
        return created

    async def replace(self, schedule: Schedule) -> Schedule:
        replaced = await self._one(QUERIES["replace"], _params(schedule))
        assert replaced is not None  # an upsert always returns its row
        return replaced

    async def get(self, name: str) -> Schedule:
        found = await self._one(QUERIES["get"], {"name": name})
        if found is None:
            raise ScheduleNotFound()
        return found

    async def list(self, limit: int) -> list[Schedule]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["list"], {"limit": limit})
            return [_row(row) for row in await cur.fetchall()]

    async def delete(self, name: str) -> None:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["delete"], {"name": name})
            if await cur.fetchone() is None:
                raise ScheduleNotFound()

    async def set_paused(self, name: str, paused: bool, next_run_at: datetime) -> Schedule:
        found = await self._one(QUERIES["set_paused"], {
            "name": name, "paused": paused, "next_run_at": next_run_at})
        if found is None:
            raise ScheduleNotFound()
        return found

    @contextlib.asynccontextmanager
    async def claim_due(self, limit: int) -> AsyncIterator[PostgresTicks]:
        """Lock up to ``limit`` due schedules until the block ends (then commit)."""
        async with connection(self._pool) as conn, conn.transaction():
            cur = await conn.execute(QUERIES["claim_due"], {"limit": limit})
            yield PostgresTicks(conn, [_row(row) for row in await cur.fetchall()])
