"""Migration 0009 (traceparent) over a database made by the migrations before it, with jobs in
every state: they are untouched and read with no traceparent; new jobs store one, and the
column's check refuses a malformed value written behind the application's back."""

from __future__ import annotations

import psycopg
import pytest

from quorra.db.migrate import apply_migrations
from tests.integration.test_migrations import ROWS, migrate_until, scratch_database

__all__ = ["scratch_database"]  # the fixture, used by name below

INSERT = ("INSERT INTO quorra_jobs (id, type, queue, payload, traceparent) "
          "VALUES (gen_random_uuid(), 't', 'q', '{}', %s)")
GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_traceparent_after_upgrading_from_the_previous_schema(
        scratch_database: str) -> None:
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate_until(conn, 9)
        conn.execute(ROWS)
        before = conn.execute("SELECT id, status, payload, result, last_error, attempts "
                              "FROM quorra_jobs ORDER BY id").fetchall()
    async with await psycopg.AsyncConnection.connect(scratch_database, autocommit=True) as conn:
        assert [name[:4] for name in await apply_migrations(conn)][:1] == ["0009"]
        cur = await conn.execute("SELECT id, status, payload, result, last_error, attempts "
                                 "FROM quorra_jobs ORDER BY id")
        assert await cur.fetchall() == before
        cur = await conn.execute("SELECT count(*) FROM quorra_jobs WHERE traceparent IS NULL")
        assert await cur.fetchone() == (len(before),)
        await conn.execute(INSERT, (GOOD,))
        for bad in (GOOD.upper(), GOOD[:-1], "ff" + GOOD[2:],
                    f"00-{'0' * 32}-00f067aa0ba902b7-01", f"00-{'1' * 32}-{'0' * 16}-01"):
            with pytest.raises(psycopg.errors.CheckViolation):
                await conn.execute(INSERT, (bad,))
