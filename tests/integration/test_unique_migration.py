"""Migration 0004 (unique jobs) over a database made by 0001-0003 with jobs in every state:
the old jobs keep working (no key, deletable, settle as before) and unique keys work at once."""

from __future__ import annotations

import psycopg

from quorra.core.jobs import JobStatus
from quorra.db.migrate import apply_migrations
from tests.contract.conftest import spec
from tests.integration.test_migrations import ROWS, migrate_until, scratch_database

__all__ = ["scratch_database"]  # the fixture, used by name below


async def test_unique_jobs_after_upgrading_from_0003(scratch_database: str) -> None:
    from quorra.broker.postgres import PostgresBroker
    from quorra.db.pool import create_pool

    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate_until(conn, 4)
        conn.execute(ROWS)
    async with await psycopg.AsyncConnection.connect(scratch_database, autocommit=True) as conn:
        assert [name[:4] for name in await apply_migrations(conn)][:1] == ["0004"]
        cur = await conn.execute("SELECT count(*), count(unique_key) FROM quorra_jobs")
        assert await cur.fetchone() == (4, 0)
    pool = create_pool(scratch_database, max_size=2, timeout=5)
    await pool.open(wait=True)
    broker = PostgresBroker(pool, scratch_database, group_commit=False)
    try:
        (old,) = await broker.lease(["q"], worker_id="w", limit=1, ttl=30)
        assert old.lease_id is not None
        await broker.ack(old.id, old.lease_id)  # an old job finishes: no key to release
        await broker.delete(old.id)
        (first,) = await broker.enqueue([spec("t", queue="q", unique_key="k")])
        (again,) = await broker.enqueue([spec("t", queue="q", unique_key="k")])
        assert again.duplicate and again.id == first.id
        assert again.status is JobStatus.PENDING
    finally:
        await pool.close()
