"""One harness per broker driver; every test in this folder runs against each of them.

A harness gives the broker and archive under test plus two time-travel helpers, so tests about
backoff and lease expiry need not sleep: ``make_due`` makes a pending job ready now and
``expire_lease`` moves a lease's deadline into the past. A new driver adds a harness factory to
``HARNESSES``.

Every broker here polls only every ``POLL_INTERVAL`` (far longer than any test waits), so a test
that waits for a wake-up within ``WAKE_BOUND`` fails when the wake-up is missing instead of
being rescued by the poll."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from quorra.archive.base import Archive
from quorra.broker.base import Broker
from quorra.core.jobs import JobSpec
from quorra.core.spec import EnqueueRequest, Limits, to_spec
from tests.redis_cluster import LocalCluster
from tests.support import free_port

POLL_INTERVAL = 60.0  # the brokers' polling backup, out of reach of every test
WAKE_BOUND = 5.0  # a wake-up must come within this (generous on a loaded machine)
assert WAKE_BOUND < POLL_INTERVAL


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
        await conn.execute(query, (job_id,))


def _postgres_broker(pool: Any, url: str, **options: Any) -> Any:
    from quorra.broker.postgres import PostgresBroker

    return PostgresBroker(pool, url, poll_interval=POLL_INTERVAL, **options)


def _sql_harness(url: str, broker: Broker, archive: Archive) -> Harness:
    """Time travel by SQL alone: for brokers whose leases come from PostgreSQL."""
    return Harness(
        broker=broker,
        archive=archive,
        make_due=lambda job_id: _sql(
            url, "UPDATE quorra_jobs SET run_at = now() WHERE id = %s", job_id),
        expire_lease=lambda job_id: _sql(
            url, "UPDATE quorra_jobs SET lease_expires_at = now() - interval '1 second' "
                 "WHERE id = %s", job_id),
    )


async def _postgres_harness(url: str, **options: Any) -> AsyncIterator[Harness]:
    from quorra.archive.postgres import PostgresArchive
    from quorra.db.pool import create_pool

    pool = create_pool(url, max_size=12, timeout=5)
    await pool.open(wait=True)
    broker = _postgres_broker(pool, url, **options)
    await broker.start()
    try:
        yield _sql_harness(url, broker, PostgresArchive(pool))
    finally:
        await broker.close()
        await pool.close()


@pytest.fixture
async def postgres_harness(clean_db: str) -> AsyncIterator[Harness]:
    async for harness in _postgres_harness(clean_db):
        yield harness


@pytest.fixture
async def postgres_single_commit_harness(clean_db: str) -> AsyncIterator[Harness]:
    """PostgreSQL with each enqueue and settle committed on its own (``group_commit=False``)."""
    async for harness in _postgres_harness(clean_db, group_commit=False):
        yield harness


async def _fallback_harness(url: str, broker_class: Any, index_class: Any
                            ) -> AsyncIterator[Harness]:
    """A Redis broker while Redis is down (nothing listens on its port): it stays in
    ``postgres`` mode, leasing from PostgreSQL and touching Redis only to probe it."""
    from quorra.archive.postgres import PostgresArchive
    from quorra.broker.redis import connect
    from quorra.db.pool import create_pool

    pool = create_pool(url, max_size=12, timeout=5)
    await pool.open(wait=True)
    index = index_class(connect(f"redis://127.0.0.1:{free_port()}/0"))
    broker = broker_class(_postgres_broker(pool, url), pool, index, poll_interval=POLL_INTERVAL)
    try:
        await broker.start()
        assert broker.mode == "postgres", broker.health()
        yield _sql_harness(url, broker, PostgresArchive(pool))
        assert broker.mode == "postgres", broker.health()
    finally:
        await broker.close()  # closes the client too
        await pool.close()


@pytest.fixture
async def redis_fallback_harness(clean_db: str) -> AsyncIterator[Harness]:
    """The Redis broker (``grant`` leases) fallen back to PostgreSQL."""
    from quorra.broker.redis import RedisBroker, RedisIndex

    async for harness in _fallback_harness(clean_db, RedisBroker, RedisIndex):
        yield harness


@pytest.fixture
async def stream_fallback_harness(clean_db: str) -> AsyncIterator[Harness]:
    """The Redis broker with ``stream`` leases fallen back to PostgreSQL."""
    from quorra.broker.redis import StreamBroker, StreamIndex

    async for harness in _fallback_harness(clean_db, StreamBroker, StreamIndex):
        yield harness


async def _redis_harness(url: str, client: Any) -> AsyncIterator[Harness]:
    """The Redis broker over ``client`` (a real or a fake Redis), Postgres as the arbiter."""
    from quorra.archive.postgres import PostgresArchive
    from quorra.broker.redis import RedisBroker, RedisIndex
    from quorra.db.pool import create_pool

    await client.flushdb()
    pool = create_pool(url, max_size=12, timeout=5)
    await pool.open(wait=True)
    broker = RedisBroker(_postgres_broker(pool, url), pool, RedisIndex(client),
                         poll_interval=POLL_INTERVAL)

    async def make_due(job_id: uuid.UUID) -> None:
        # A reschedule is a new dispatch: bump the fence, then let the sweep propose it.
        await _sql(url, "UPDATE quorra_jobs SET run_at = now(), dispatch_seq = dispatch_seq + 1 "
                        "WHERE id = %s", job_id)
        await broker.supervisor.sweep(age=0)

    try:
        await broker.start()
        assert broker.mode == "redis", broker.health()
        yield Harness(
            broker=broker,
            archive=PostgresArchive(pool),
            make_due=make_due,
            expire_lease=lambda job_id: _sql(
                url,
                "UPDATE quorra_jobs SET lease_expires_at = now() - interval '1 second' "
                "WHERE id = %s", job_id),
        )
    finally:
        await broker.close()
        await pool.close()
        await client.flushdb()
        await client.aclose()


@pytest.fixture
async def redis_harness(clean_db: str, redis_url: str) -> AsyncIterator[Harness]:
    from quorra.broker.redis import connect

    client = connect(redis_url)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"Redis unavailable: {exc}")
    async for harness in _redis_harness(clean_db, client):
        yield harness


@pytest.fixture
async def fakeredis_harness(clean_db: str) -> AsyncIterator[Harness]:
    import fakeredis

    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(version=(7,)),
                                      decode_responses=True)
    async for harness in _redis_harness(clean_db, client):
        yield harness


class _RecordedArchive:
    """The archive as a reader sees it once stream leases were recorded: PostgreSQL learns of
    them in batches within a documented bound (``LeaseRecorder``), so every read here first
    writes the leases made so far, as that bound would."""

    def __init__(self, archive: Archive, broker: Any) -> None:
        self._archive = archive
        self._broker = broker

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._archive, name)

        async def recorded_first(*args: Any, **kwargs: Any) -> Any:
            await self._broker.recorded()
            return await method(*args, **kwargs)

        return recorded_first


async def _expire_in_redis(url: str, client: Any, job_id: uuid.UUID) -> None:
    """Move a stream lease's deadline into the past in Redis, as time would."""
    from quorra.broker.redis.keys import GROUP, queue_keys
    from quorra.broker.redis.stream_index import HORIZON_MS

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT queue FROM quorra_jobs WHERE id = %s", (job_id,))
        row = await cur.fetchone()
    assert row is not None
    keys = queue_keys(row[0])
    record = await client.hget(keys.leases, str(job_id))
    if record is None:
        return
    lease, entry, _deadline, rest = record.split("|", 3)
    await client.hset(keys.leases, str(job_id), "|".join((lease, entry, "1", rest)))
    await client.execute_command("XCLAIM", keys.stream, GROUP, "test", 0, entry,
                                 "IDLE", HORIZON_MS, "JUSTID")


@pytest.fixture
async def stream_harness(clean_db: str, redis_url: str) -> AsyncIterator[Harness]:
    """The Redis broker with leases held in Redis (``QUORRA_REDIS_LEASES=stream``)."""
    from quorra.broker.redis import connect

    client = connect(redis_url)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"Redis unavailable: {exc}")
    async for harness in _stream_harness(clean_db, client):
        yield harness


@pytest.fixture
async def fakeredis_stream_harness(clean_db: str) -> AsyncIterator[Harness]:
    import fakeredis

    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(version=(7,)),
                                      decode_responses=True)
    async for harness in _stream_harness(clean_db, client):
        yield harness


async def _stream_harness(clean_db: str, client: Any) -> AsyncIterator[Harness]:
    from quorra.archive.postgres import PostgresArchive
    from quorra.broker.redis import StreamBroker, StreamIndex
    from quorra.db.pool import create_pool

    await client.flushdb()
    pool = create_pool(clean_db, max_size=12, timeout=5)
    await pool.open(wait=True)
    broker = StreamBroker(_postgres_broker(pool, clean_db), pool, StreamIndex(client),
                          poll_interval=POLL_INTERVAL)

    async def make_due(job_id: uuid.UUID) -> None:
        await broker.recorded()
        await _sql(clean_db, "UPDATE quorra_jobs SET run_at = now(), "
                             "dispatch_seq = dispatch_seq + 1 WHERE id = %s", job_id)
        await broker.supervisor.sweep(age=0)

    async def expire_lease(job_id: uuid.UUID) -> None:
        await broker.recorded()
        await _sql(clean_db, "UPDATE quorra_jobs SET lease_expires_at = now() - interval "
                             "'1 second' WHERE id = %s", job_id)
        await _expire_in_redis(clean_db, client, job_id)

    try:
        await broker.start()
        assert broker.mode == "redis", broker.health()
        yield Harness(broker=broker, archive=_RecordedArchive(PostgresArchive(pool), broker),
                      make_due=make_due, expire_lease=expire_lease)
    finally:
        await broker.close()  # closes the client too
        await pool.close()


@pytest.fixture
async def cluster_harness(clean_db: str, redis_cluster: LocalCluster) -> AsyncIterator[Harness]:
    """The Redis broker (``grant`` leases) on a Redis Cluster (3 masters, 3 replicas)."""
    from quorra.broker.redis import connect

    async for harness in _redis_harness(clean_db, connect(redis_cluster.url)):
        yield harness


@pytest.fixture
async def cluster_stream_harness(clean_db: str, redis_cluster: LocalCluster
                                 ) -> AsyncIterator[Harness]:
    """The Redis broker with ``stream`` leases on a Redis Cluster."""
    from quorra.broker.redis import connect

    async for harness in _stream_harness(clean_db, connect(redis_cluster.url)):
        yield harness


HARNESSES = ["postgres_harness", "postgres_single_commit_harness", "redis_fallback_harness",
             "stream_fallback_harness", "redis_harness", "fakeredis_harness", "stream_harness",
             "fakeredis_stream_harness", "cluster_harness", "cluster_stream_harness"]


#: (harness, test) pairs known to fail, each a bug to fix in the driver: strict, so the fix
#: must remove its entry.
# (harness, test) -> why it is expected to fail: a known gap, kept visible (strict xfail: the
# entry must go when the gap is fixed). None at the moment.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


@pytest.fixture(params=HARNESSES)
def harness(request: pytest.FixtureRequest) -> Harness:
    gap = KNOWN_GAPS.get((request.param, request.node.originalname))
    if gap is not None:
        request.applymarker(pytest.mark.xfail(reason=gap, strict=True))
    result: Harness = request.getfixturevalue(request.param)
    return result
