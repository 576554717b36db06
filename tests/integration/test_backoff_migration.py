"""Migration 0014 (``quorra_backoff``) over a database made by the migrations before it, with
jobs in every state: the rows are untouched, and the function gives exactly what the expression
it replaced in every driver's statements gave (README "Guarantees", Retries)."""

from __future__ import annotations

import psycopg

from quorra.db.migrate import apply_migrations
from tests.integration.test_migrations import ROWS, migrate_until, scratch_database

__all__ = ["scratch_database"]  # the fixture, used by name below

_OLD = "make_interval(secs => LEAST(power(2, LEAST(n, 12)), 3600))"
_ROWS_READ = "SELECT id, status, run_at, attempts, last_error FROM quorra_jobs ORDER BY id"


async def test_backoff_after_upgrading_from_the_previous_schema(scratch_database: str) -> None:
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate_until(conn, 14)
        conn.execute(ROWS)
        before = conn.execute(_ROWS_READ).fetchall()
    async with await psycopg.AsyncConnection.connect(scratch_database, autocommit=True) as conn:
        assert [name[:4] for name in await apply_migrations(conn)][:1] == ["0014"]
        assert await (await conn.execute(_ROWS_READ)).fetchall() == before
        cur = await conn.execute(
            f"SELECT n, extract(epoch FROM quorra_backoff(n))::int, "
            f"extract(epoch FROM {_OLD})::int FROM generate_series(1, 40) AS n")
        rows = await cur.fetchall()
    assert all(new == old for _, new, old in rows)
    assert [seconds for n, seconds, _ in rows if n in (1, 2, 3, 11, 12, 13, 40)] == [
        2, 4, 8, 2048, 3600, 3600, 3600]
