"""Migration 0010 (webhooks) over a database made by the migrations before it, with jobs in
every state, a paused and limited queue and an API key: they are untouched, the upgrade makes no
delivery, and the trigger works at once: a job that succeeds after the upgrade gets a delivery
for a matching subscription, in the statement that finished it."""

from __future__ import annotations

import psycopg

from quorra.db.migrate import apply_migrations
from tests.integration.test_migrations import ROWS, migrate_until, scratch_database

__all__ = ["scratch_database"]  # the fixture, used by name below


async def test_webhooks_after_upgrading_from_the_previous_schema(scratch_database: str) -> None:
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate_until(conn, 10)
        conn.execute(ROWS)
        conn.execute("INSERT INTO quorra_queues (queue, paused, max_concurrency) "
                     "VALUES ('held', true, 2)")
        before = conn.execute("SELECT id, status, attempts, payload FROM quorra_jobs "
                              "ORDER BY id").fetchall()
    async with await psycopg.AsyncConnection.connect(scratch_database, autocommit=True) as conn:
        assert [name[:4] for name in await apply_migrations(conn)][:1] == ["0010"]
        cur = await conn.execute("SELECT id, status, attempts, payload FROM quorra_jobs "
                                 "ORDER BY id")
        assert await cur.fetchall() == before
        cur = await conn.execute("SELECT queue, paused, max_concurrency FROM quorra_queues")
        assert await cur.fetchall() == [("held", True, 2)]
        await conn.execute(
            "INSERT INTO quorra_webhooks (id, url, events, secret) VALUES ('wh_abcdefghijkl', "
            "'https://x.example/', ARRAY['job.succeeded'], repeat('s', 40))")
        cur = await conn.execute(
            "UPDATE quorra_jobs SET status = 'succeeded', lease_id = NULL, "
            "lease_expires_at = NULL, finished_at = now() WHERE status = 'leased' RETURNING id")
        (finished,) = await cur.fetchall()
        cur = await conn.execute("SELECT payload -> 'job' ->> 'id', payload ->> 'event', "
                                 "max_retries FROM quorra_jobs WHERE queue = '_quorra.webhooks'")
        assert await cur.fetchall() == [(str(finished[0]), "job.succeeded", 10)]
