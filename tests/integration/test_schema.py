"""The schema's CHECK constraints refuse impossible rows even if a bug tried to write one."""

from __future__ import annotations

import uuid

import psycopg
import pytest

INSERT = ("INSERT INTO quorra_jobs (id, type, queue, status, lease_id, finished_at) "
          "VALUES (%s, 't', 'q', %s, %s, %s)")


@pytest.mark.parametrize(("status", "lease", "finished"), [
    ("processing", None, None),  # unknown status
    ("leased", None, None),  # leased without a lease id
    ("pending", uuid.uuid4(), None),  # a lease id outside 'leased'
    ("succeeded", None, None),  # terminal without finished_at
])
async def test_impossible_rows_are_refused(clean_db: str, status: str, lease: uuid.UUID | None,
                                           finished: object) -> None:
    async with await psycopg.AsyncConnection.connect(clean_db, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute(INSERT, (uuid.uuid4(), status, lease, finished))


async def test_timestamps_are_timestamptz(clean_db: str) -> None:
    async with await psycopg.AsyncConnection.connect(clean_db, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'quorra_jobs'"
            " AND data_type LIKE 'timestamp%%' AND data_type <> 'timestamp with time zone'")
        assert await cur.fetchall() == []


async def test_migration_0002_from_a_populated_0001_schema(database_url: str) -> None:
    """A database at 0001 with jobs in every state migrates: finished jobs are counted, the new
    indexes exist, and later transitions keep the counts right."""
    from psycopg import sql

    from quorra.db.migrate import apply_migrations, available_migrations

    name = str(psycopg.conninfo.conninfo_to_dict(database_url).get("dbname")) + "_migrate"
    admin = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(database_url, dbname=name)
    (_, first, text), *_ = available_migrations()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(text)
        await conn.execute("CREATE TABLE quorra_migrations (version integer PRIMARY KEY,"
                           " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        await conn.execute("INSERT INTO quorra_migrations VALUES (1, %s)", (first,))
        await conn.execute(
            "INSERT INTO quorra_jobs (id, type, queue, status, finished_at) "
            "SELECT gen_random_uuid(), 't', 'q' || (i % 2), s, "
            "CASE WHEN s IN ('pending') THEN NULL ELSE now() END "
            "FROM generate_series(1, 10) AS i, unnest(ARRAY['pending', 'succeeded', 'dead']) s")
        applied = await apply_migrations(conn)
        assert applied[0] == "0002_lifecycle.sql"  # then any later ones
        cur = await conn.execute(
            "SELECT queue, status, n FROM quorra_finished_counts ORDER BY queue, status")
        assert await cur.fetchall() == [("q0", "dead", 5), ("q0", "succeeded", 5),
                                        ("q1", "dead", 5), ("q1", "succeeded", 5)]
        cur = await conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'quorra_jobs'")
        assert {"quorra_jobs_finished", "quorra_jobs_pending_id"} <= {
            row[0] for row in await cur.fetchall()}
        await conn.execute("UPDATE quorra_jobs SET status = 'pending', finished_at = NULL "
                           "WHERE status = 'dead' AND queue = 'q0'")
        cur = await conn.execute("SELECT sum(n) FROM quorra_finished_deltas")
        assert (await cur.fetchone()) == (-5,)
        assert await apply_migrations(conn) == []
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))

