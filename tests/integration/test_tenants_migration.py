"""Migration 0012 (tenants) over a database made by the migrations before it, with jobs and an
API key in it: they are untouched, the old key keeps working with no tenant, and a key of a
tenant is stored and read back with it (a malformed tenant is refused by the table too)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from quorra.core.keys import Keyring, Role, new_key
from quorra.db.migrate import apply_migrations
from tests.integration.test_migrations import ROWS, migrate_until, scratch_database

__all__ = ["scratch_database"]  # the fixture, used by name below

OLD_KEY = new_key("old", Role.PRODUCER, ["q*"], created_at=datetime.now(UTC))


async def test_tenants_after_upgrading_from_the_previous_schema(scratch_database: str) -> None:
    from quorra.archive.keys import PostgresKeys
    from quorra.db.pool import create_pool

    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate_until(conn, 12)
        conn.execute(ROWS)
        conn.execute("INSERT INTO quorra_api_keys (id, name, role, queues, key_hash) "
                     "VALUES (%s, 'old', 'producer', '{q*}', %s)",
                     (OLD_KEY.key.id, OLD_KEY.digest))
        before = conn.execute("SELECT count(*) FROM quorra_jobs").fetchone()
    async with await psycopg.AsyncConnection.connect(scratch_database, autocommit=True) as conn:
        assert [name[:4] for name in await apply_migrations(conn)][:1] == ["0012"]
        cur = await conn.execute("SELECT count(*) FROM quorra_jobs")
        assert await cur.fetchone() == before
    pool = create_pool(scratch_database, max_size=2, timeout=5)
    await pool.open(wait=True)
    try:
        store = PostgresKeys(pool)
        made = new_key("t", Role.WORKER, ["q"], created_at=datetime.now(UTC), tenant="acme")
        await store.create(made)
        ring = Keyring()
        ring.replace(await store.active())
        old = ring.authenticate(OLD_KEY.secret.encode())
        assert old is not None and old.tenant is None and old.queues == ("q*",)
        mine = ring.authenticate(made.secret.encode())
        assert mine is not None and mine.tenant == "acme"
        assert {k.id: k.tenant for k in await store.all_keys(10)} == {
            OLD_KEY.key.id: None, made.key.id: "acme"}
        with psycopg.connect(scratch_database, autocommit=True) as conn, \
                pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE quorra_api_keys SET tenant = 'a~b'")
    finally:
        await pool.close()
