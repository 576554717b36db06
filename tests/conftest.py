"""Shared fixtures. Tests use their own database (``QUORRA_TEST_DATABASE_URL``, created when
missing) and Redis DB index (``QUORRA_TEST_REDIS_URL``), and never touch anything else.
A missing service skips locally and fails in CI (``CI=true``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from psycopg import sql

from quorra.db.migrate import apply_migrations
from tests.redis_cluster import LocalCluster
from tests.support import DATABASE_URL, DROP_SCHEMA, REDIS_URL

for _name in [k for k in os.environ if k.startswith("QUORRA_")]:
    if not _name.startswith("QUORRA_TEST_"):
        del os.environ[_name]


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} unavailable: {exc}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated test database, created once per session."""
    info = psycopg.conninfo.conninfo_to_dict(DATABASE_URL)
    name = str(info.get("dbname", "quorra_test"))
    admin = psycopg.conninfo.make_conninfo(DATABASE_URL, dbname="postgres")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(DROP_SCHEMA)
    yield DATABASE_URL


@pytest.fixture
async def clean_db(database_url: str) -> AsyncIterator[str]:
    """The test database, migrated and empty."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await apply_migrations(conn)
        # its own statement first: its trigger disables the jobs' webhook trigger, which a
        # statement truncating quorra_jobs too may not do
        await conn.execute("TRUNCATE quorra_webhooks")
        await conn.execute("TRUNCATE quorra_jobs, quorra_schedules, quorra_queues, "
                           "quorra_api_keys, quorra_replicas")
    yield database_url


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """A private Redis Cluster (3 masters, 3 replicas) for this session: started on first use,
    stopped at the end. Without ``redis-server`` it skips locally and fails in CI."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        _unavailable("Redis Cluster", RuntimeError("redis-server or redis-cli not installed"))
    cluster = LocalCluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()
