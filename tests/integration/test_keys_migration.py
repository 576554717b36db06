"""Migration 0008 (API keys) over a database made by the migrations before it, with jobs, a
paused and limited queue and a schedule: they are untouched, and keys work at once."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from quorra.core.keys import Keyring, Role, new_key
from quorra.db.migrate import apply_migrations
from tests.integration.test_migrations import ROWS, migrate_until, scratch_database

__all__ = ["scratch_database"]  # the fixture, used by name below


async def test_keys_after_upgrading_from_the_previous_schema(scratch_database: str) -> None:
    from quorra.archive.keys import PostgresKeys
    from quorra.db.pool import create_pool

    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate_until(conn, 8)
        conn.execute(ROWS)
        conn.execute("INSERT INTO quorra_queues (queue, paused, max_concurrency) "
                     "VALUES ('held', true, 2)")
        before = conn.execute("SELECT count(*) FROM quorra_jobs").fetchone()
    async with await psycopg.AsyncConnection.connect(scratch_database, autocommit=True) as conn:
        assert [name[:4] for name in await apply_migrations(conn)][:1] == ["0008"]
        cur = await conn.execute("SELECT count(*) FROM quorra_jobs")
        assert await cur.fetchone() == before
        cur = await conn.execute("SELECT queue, paused, max_concurrency FROM quorra_queues")
        assert await cur.fetchall() == [("held", True, 2)]
    pool = create_pool(scratch_database, max_size=2, timeout=5)
    await pool.open(wait=True)
    try:
        store = PostgresKeys(pool)
        assert await store.active() == []
        made = new_key("w", Role.WORKER, ["q"], created_at=datetime.now(UTC))
        await store.create(made)
        ring = Keyring()
        ring.replace(await store.active())
        assert ring.authenticate(made.secret.encode()) is not None
        with psycopg.connect(scratch_database, autocommit=True) as conn:
            (row,) = conn.execute("SELECT key_hash, name FROM quorra_api_keys").fetchall()
            assert bytes(row[0]) == made.digest and made.secret.encode() not in bytes(row[0])
        await store.revoke(made.key.id)
        assert await store.active() == []
    finally:
        await pool.close()
