"""Migration 0006 (queue limits) over a database made by 0001-0005 with jobs and a paused queue:
the pause holds, no queue is limited, and limits work at once."""

from __future__ import annotations

import psycopg

from quorra.core.limits import QueueLimits
from quorra.db.migrate import apply_migrations
from tests.integration.test_migrations import ROWS, migrate_until, scratch_database

__all__ = ["scratch_database"]  # the fixture, used by name below


async def test_limits_after_upgrading_from_0005(scratch_database: str) -> None:
    from quorra.broker.postgres import PostgresBroker
    from quorra.db.pool import create_pool

    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate_until(conn, 6)
        conn.execute(ROWS)
        conn.execute("INSERT INTO quorra_queues (queue, paused) VALUES ('held', true), "
                     "('q', false)")
    async with await psycopg.AsyncConnection.connect(scratch_database, autocommit=True) as conn:
        assert [name[:4] for name in await apply_migrations(conn)][:1] == ["0006"]
        cur = await conn.execute("SELECT queue, paused, max_concurrency, rate_limit "
                                 "FROM quorra_queues ORDER BY queue")
        assert await cur.fetchall() == [("held", True, None, None), ("q", False, None, None)]
    pool = create_pool(scratch_database, max_size=2, timeout=5)
    await pool.open(wait=True)
    broker = PostgresBroker(pool, scratch_database, group_commit=False)
    try:
        assert await broker.get_limits("q") == QueueLimits()
        await broker.set_limits("q", QueueLimits(max_concurrency=1))
        assert await broker.lease(["q"], worker_id="w", limit=5, ttl=30) == []  # 1 is leased
        await broker.set_limits("q", QueueLimits(max_concurrency=2))
        (old,) = await broker.lease(["q"], worker_id="w", limit=5, ttl=30)
        assert old.payload == {"n": 1}
    finally:
        await pool.close()
