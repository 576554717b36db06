"""Every migration upgrades a database made by the one before it, in place and with rows in
it: for each migration N after the first, a fresh database gets migrations 1..N-1 (what the
release before N created), jobs in every state, then ``apply_migrations`` — the jobs are all
still there and readable, and a second run applies nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import LiteralString

import psycopg
import pytest
from psycopg import sql

from quorra.db.migrate import apply_migrations, available_migrations
from tests.support import DATABASE_URL

LATER = [version for version, _, _ in available_migrations()][1:]
ROWS = """
INSERT INTO quorra_jobs (id, type, queue, payload, status, attempts, lease_id, leased_at,
                         lease_expires_at, finished_at, result, last_error)
VALUES
  (gen_random_uuid(), 't', 'q', '{"n": 1}', 'pending', 0, NULL, NULL, NULL, NULL, NULL, NULL),
  (gen_random_uuid(), 't', 'q', '{"n": 2}', 'leased', 1, gen_random_uuid(), now(),
   now() + interval '30 s', NULL, NULL, NULL),
  (gen_random_uuid(), 't', 'q', '{"n": 3}', 'succeeded', 1, NULL, NULL, NULL, now(),
   '{"ok": true}', NULL),
  (gen_random_uuid(), 't', 'q', '{"n": 4}', 'dead', 4, NULL, NULL, NULL, now(), NULL, 'boom')
"""


@pytest.fixture
def scratch_database() -> Iterator[str]:
    name = f"quorra_migrations_{uuid.uuid4().hex[:8]}"
    admin = psycopg.conninfo.make_conninfo(DATABASE_URL, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(DATABASE_URL, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def migrate_until(conn: psycopg.Connection[tuple[object, ...]], version: int) -> None:
    """What the release before ``version`` left behind (its migrations, recorded)."""
    conn.execute("CREATE TABLE quorra_migrations (version integer PRIMARY KEY, name text NOT "
                 "NULL, applied_at timestamptz NOT NULL DEFAULT now())")
    for number, name, text in available_migrations():
        if number >= version:
            break
        script: LiteralString = text
        conn.execute(script)
        conn.execute("INSERT INTO quorra_migrations (version, name) VALUES (%s, %s)",
                     (number, name))


@pytest.mark.skipif(not LATER, reason="a single migration: nothing to upgrade from")
@pytest.mark.parametrize("version", LATER)
async def test_upgrades_in_place_with_rows(version: int, scratch_database: str) -> None:
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate_until(conn, version)
        conn.execute(ROWS)
        before = conn.execute("SELECT id, status, payload, result, last_error FROM quorra_jobs "
                              "ORDER BY id").fetchall()
    async with await psycopg.AsyncConnection.connect(scratch_database, autocommit=True) as conn:
        applied = await apply_migrations(conn)
        assert applied and applied[0].startswith(f"{version:04d}_")
        cur = await conn.execute("SELECT id, status, payload, result, last_error "
                                 "FROM quorra_jobs ORDER BY id")
        assert await cur.fetchall() == before
        assert await apply_migrations(conn) == []
