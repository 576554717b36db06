"""One harness per broker driver; every test in this folder runs against each of them.

A harness gives the broker and archive under test plus two time-travel helpers, so tests about
backoff and lease expiry need not sleep: ``make_due`` makes a pending job ready now and
``expire_lease`` moves a lease's deadline into the past. A new driver adds a harness factory to
``HARNESSES``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import psycopg
import pytest

from quorra.archive.base import Archive
from quorra.broker.base import Broker
from quorra.core.jobs import JobSpec
from quorra.core.spec import EnqueueRequest, Limits, to_spec


@dataclass
class Harness:
    broker: Broker
    archive: Archive
    make_due: Callable[[uuid.UUID], Awaitable[None]]
    expire_lease: Callable[[uuid.UUID], Awaitable[None]]


def spec(type_: str = "task", **fields: object) -> JobSpec:
    """A validated spec, built as the front doors build them."""
    return to_spec(EnqueueRequest(type=type_, **fields), Limits())  # type: ignore[arg-type]


async def _sql(url: str, query: str, job_id: uuid.UUID) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(query, (job_id,))  # type: ignore[arg-type]


@pytest.fixture
async def postgres_harness(clean_db: str) -> AsyncIterator[Harness]:
    from quorra.archive.postgres import PostgresArchive
    from quorra.broker.postgres import PostgresBroker
    from quorra.db.pool import create_pool

    pool = create_pool(clean_db, max_size=12, timeout=5)
    await pool.open(wait=True)
    broker = PostgresBroker(pool, clean_db)
    await broker.start()
    try:
        yield Harness(
            broker=broker,
            archive=PostgresArchive(pool),
            make_due=lambda job_id: _sql(
                clean_db, "UPDATE quorra_jobs SET run_at = now() WHERE id = %s", job_id),
            expire_lease=lambda job_id: _sql(
                clean_db,
                "UPDATE quorra_jobs SET lease_expires_at = now() - interval '1 second' "
                "WHERE id = %s", job_id),
        )
    finally:
        await broker.close()
        await pool.close()


HARNESSES = ["postgres_harness"]


@pytest.fixture(params=HARNESSES)
def harness(request: pytest.FixtureRequest) -> Harness:
    result: Harness = request.getfixturevalue(request.param)
    return result
