"""Migrations 0015 (the payload GIN index) and 0016 (quorra_replicas) over a database made by
the migrations before each, with jobs in it; and the plans: a payload search reads the GIN
index, an id prefix the primary key's btree (never a scan of every row)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from quorra.archive.postgres import QUERIES, UNBOUNDED
from quorra.core.search import id_range, payload_term
from quorra.db.migrate import apply_migrations
from tests.integration.test_migrations import ROWS, migrate_until, scratch_database

__all__ = ["scratch_database"]  # the fixture, used by name below


def _params(payload: str | None = None,
            ids: tuple[uuid.UUID, uuid.UUID] | None = None) -> dict[str, object]:
    return {"queue": None, "status": None, "type": None, "prefix": None, "payload": payload,
            "id_low": ids[0] if ids else None, "id_high": ids[1] if ids else None,
            "after_at": None, "after_id": None, "limit": 51, "max_bytes": UNBOUNDED}


async def test_payload_index_after_upgrading_from_the_previous_schema(
        scratch_database: str) -> None:
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate_until(conn, 15)
        conn.execute(ROWS)
    async with await psycopg.AsyncConnection.connect(scratch_database, autocommit=True) as conn:
        assert [name[:4] for name in await apply_migrations(conn)][:1] == ["0015"]
        cur = await conn.execute("SELECT indexdef FROM pg_indexes "
                                 "WHERE indexname = 'quorra_jobs_payload'")
        (definition,) = await cur.fetchone() or ("",)
        assert "gin (payload jsonb_path_ops)" in definition
        cur = await conn.execute(QUERIES["list_jobs"], _params(payload_term('{"n": 3}')),
                                 prepare=False)
        rows = await cur.fetchall()
        assert [(row[2], row[5]) for row in rows] == [({"n": 3}, "succeeded")]


@pytest.fixture
def many_jobs(clean_db: str) -> str:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("INSERT INTO quorra_jobs (id, type, queue, payload) "
                     "SELECT gen_random_uuid(), 't', 'q', jsonb_build_object('user', i, 'k', 'v')"
                     " FROM generate_series(1, 20000) AS i")
        conn.execute("ANALYZE quorra_jobs")
    return clean_db


def _plan(url: str, params: dict[str, object]) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute("EXPLAIN " + QUERIES["list_jobs"], params, prepare=False).fetchall()
    return "\n".join(row[0] for row in rows)


def test_payload_search_uses_the_gin_index(many_jobs: str) -> None:
    plan = _plan(many_jobs, _params(payload_term('{"user": 4242}')))
    assert "quorra_jobs_payload" in plan, plan


def test_id_prefix_uses_the_primary_key(many_jobs: str) -> None:
    plan = _plan(many_jobs, _params(ids=id_range("01a2")))
    assert "quorra_jobs_pkey" in plan, plan
    assert "Index Cond" in plan and "id >=" in plan.replace("(id >=", "id >="), plan


async def test_replicas_table_after_upgrading_from_the_previous_schema(
        scratch_database: str) -> None:
    from quorra.archive.replicas import PostgresReplicas
    from quorra.db.pool import create_pool
    from quorra.replicas import Identity, ReplicaRecord
    from quorra.worker_directory import ConnectedWorker

    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate_until(conn, 16)
        conn.execute(ROWS)
        before = conn.execute("SELECT id, status, payload FROM quorra_jobs ORDER BY id").fetchall()
    async with await psycopg.AsyncConnection.connect(scratch_database, autocommit=True) as conn:
        assert [name[:4] for name in await apply_migrations(conn)][:1] == ["0016"]
        cur = await conn.execute("SELECT id, status, payload FROM quorra_jobs ORDER BY id")
        assert await cur.fetchall() == before
    pool = create_pool(scratch_database, max_size=2, timeout=5)
    await pool.open(wait=True)
    try:
        store = PostgresReplicas(pool)
        me = Identity("h:1:abc", "h", 1, "0.1.0", 1_700_000_000.0)
        await store.beat(ReplicaRecord(me, throughput=[(1.0, 2.0, 3.0, 4.0)],
                                       workers=[ConnectedWorker("w", ["q"], in_flight=2)]))
        await store.beat(ReplicaRecord(me))  # a refresh replaces the throughput and workers
        (row,) = await store.all()
        assert row.identity == me and row.workers == [] and 0 <= row.age < 5
        await store.beat(ReplicaRecord(me, workers=[ConnectedWorker("w", ["q"], in_flight=2)]))
        (row,) = await store.all()
        assert row.workers == [ConnectedWorker("w", ["q"], in_flight=2)]
        assert await store.forget(60) == 0
        await store.remove(me.id)
        assert await store.all() == []
    finally:
        await pool.close()
