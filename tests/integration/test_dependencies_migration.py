"""Migration 0007 (dependencies) over a database made by the migrations before it, with jobs in
every state: the old jobs settle as before (nothing depends on them), a new job may depend on an
old one (blocked until it succeeds), and finished old jobs satisfy new dependents."""

from __future__ import annotations

import uuid

import psycopg

from quorra.core.jobs import JobStatus
from quorra.db.migrate import apply_migrations
from tests.contract.conftest import spec
from tests.integration.test_migrations import ROWS, migrate_until, scratch_database

__all__ = ["scratch_database"]  # the fixture, used by name below


async def test_dependencies_after_upgrading(scratch_database: str) -> None:
    from quorra.broker.postgres import PostgresBroker
    from quorra.db.pool import create_pool

    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate_until(conn, 7)
        conn.execute(ROWS)
        old: dict[str, uuid.UUID] = dict(
            conn.execute("SELECT status, id FROM quorra_jobs").fetchall())
    async with await psycopg.AsyncConnection.connect(scratch_database, autocommit=True) as conn:
        assert [name[:4] for name in await apply_migrations(conn)][:1] == ["0007"]
        cur = await conn.execute("SELECT count(*) FILTER (WHERE has_dependents OR blockers > 0 "
                                 "OR depends_on IS NOT NULL) FROM quorra_jobs")
        assert await cur.fetchone() == (0,)
    pool = create_pool(scratch_database, max_size=2, timeout=5)
    await pool.open(wait=True)
    broker = PostgresBroker(pool, scratch_database, group_commit=False)
    try:
        after_pending, after_done, after_dead = await broker.enqueue([
            spec("t", queue="q", depends_on=[old["pending"]]),
            spec("t", queue="q", depends_on=[old["succeeded"]]),
            spec("t", queue="q", depends_on=[old["dead"]])])
        assert after_pending.status is JobStatus.BLOCKED
        assert after_done.status is JobStatus.PENDING
        assert after_dead.status is JobStatus.CANCELLED
        first, second = await broker.lease(["q"], worker_id="w", limit=5, ttl=30)
        assert {first.id, second.id} == {old["pending"], after_done.id}
        for job in (first, second):
            assert job.lease_id is not None
            await broker.ack(job.id, job.lease_id)
        (last,) = await broker.lease(["q"], worker_id="w", limit=5, ttl=30)
        assert last.id == after_pending.id
        await broker.delete(old["succeeded"])  # a parent purged: its dependents still read
    finally:
        await pool.close()
