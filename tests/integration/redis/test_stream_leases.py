"""Stream leases (``QUORRA_REDIS_LEASES=stream``) on a private redis-server: the lease path
writes nothing to PostgreSQL, leases are recorded in batches after, stale settles are refused,
XAUTOCLAIM turns an expired lease into a counted failed attempt, heartbeats keep a lease, and a
FLUSHDB in flight loses no job."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

import quorra.broker.redis.stream_broker as stream_broker_module
from quorra.broker.redis import StreamBroker
from quorra.broker.redis.keys import GROUP, queue_keys
from quorra.core.errors import LeaseLost
from quorra.core.jobs import JobStatus
from tests.contract.conftest import spec
from tests.integration.redis.lessee import lease_of, open_broker
from tests.integration.redis.private_redis import PrivateRedis
from tests.support import eventually

FAST = {"probe_interval": 0.1, "recover_after": 1.0, "min_fallback": 2.0, "fail_after": 0.3}


@contextlib.asynccontextmanager
async def _stream(db: str, redis_url: str, **options: Any) -> AsyncIterator[StreamBroker]:
    async with open_broker(db, redis_url, leases="stream", **{**FAST, **options}) as broker:
        assert isinstance(broker, StreamBroker)
        assert broker.mode == "redis", broker.health()
        yield broker


async def _rows(db: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        cur = await conn.execute(query, args)
        return await cur.fetchall()


async def _statuses(db: str) -> dict[str, int]:
    rows = await _rows(db, "SELECT status, count(*) FROM quorra_jobs GROUP BY status")
    return {status: n for status, n in rows}


@contextlib.contextmanager
def _no_postgres() -> Iterator[None]:
    """Any PostgreSQL statement of the stream broker fails while this is active."""

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("a PostgreSQL statement on the lease path")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stream_broker_module, "connection", refuse)
        yield


async def test_lease_writes_nothing_to_postgres_then_is_recorded(
        clean_db: str, private_redis: PrivateRedis) -> None:
    async with _stream(clean_db, private_redis.url, record_interval=3600) as broker:
        done = await broker.enqueue([spec(f"r{i}") for i in range(20)])
        with _no_postgres():
            jobs = await broker.lease(["default"], worker_id="w1", limit=20, ttl=30)
        assert {j.id for j in jobs} == {d.id for d in done}
        assert {j.attempts for j in jobs} == {1}
        assert await _statuses(clean_db) == {"pending": 20}, "nothing written on the lease path"
        assert broker.recorder.backlog == 20
        await broker.recorded()
        rows = await _rows(clean_db, "SELECT id, status, attempts, lease_id, leased_by, "
                                     "lease_expires_at FROM quorra_jobs")
        by_id = {j.id: j for j in jobs}
        for job_id, status, attempts, lease_id, leased_by, expires in rows:
            job = by_id[job_id]
            assert (status, attempts, lease_id, leased_by) == ("leased", 1, job.lease_id, "w1")
            assert expires == job.lease_expires_at
        assert broker.recorder.statements == 1, "one statement records the whole batch"


async def test_quick_job_goes_from_pending_to_succeeded_in_one_write(
        clean_db: str, private_redis: PrivateRedis) -> None:
    async with _stream(clean_db, private_redis.url, record_interval=3600) as broker:
        await broker.enqueue([spec(f"q{i}") for i in range(5)])
        jobs = await broker.lease(["default"], worker_id="w", limit=5, ttl=30)
        done = await broker.ack_many([(j.id, lease_of(j), {"ok": 1}) for j in jobs])
        assert len(done) == 5
        assert broker.recorder.backlog == 0, "settled leases are never recorded"
        await broker.recorded()
        assert broker.recorder.statements == 0
        rows = await _rows(clean_db, "SELECT status, attempts, leased_by, leased_at IS NOT NULL "
                                     "FROM quorra_jobs")
        assert set(rows) == {("succeeded", 1, "w", True)}
        await broker.settled()
        keys = queue_keys("default")
        with private_redis.client() as client:
            assert client.xlen(keys.stream) == 0
            assert client.xpending(keys.stream, GROUP)["pending"] == 0
            assert client.hlen(keys.leases) == client.hlen(keys.bodies) == 0
            assert client.hlen(keys.idx) == 0


@pytest.mark.parametrize("recorded", [False, True], ids=["unrecorded", "recorded"])
async def test_stale_settles_are_refused(clean_db: str, private_redis: PrivateRedis,
                                         recorded: bool) -> None:
    async with _stream(clean_db, private_redis.url, record_interval=3600) as broker:
        await broker.enqueue([spec()])
        (job,) = await broker.lease(["default"], worker_id="w", limit=1, ttl=30)
        assert job.lease_id is not None
        if recorded:
            await broker.recorded()
        wrong = uuid.uuid4()
        for stale in (broker.ack(job.id, wrong), broker.nack(job.id, wrong, "x"),
                      broker.extend(job.id, wrong, 30)):
            with pytest.raises(LeaseLost):
                await stale
        assert await broker.release([(job.id, wrong)]) == []
        settled = await broker.ack(job.id, job.lease_id, "first")
        assert settled.status is JobStatus.SUCCEEDED
        for late in (broker.ack(job.id, job.lease_id, "second"),
                     broker.nack(job.id, job.lease_id, "late"),
                     broker.extend(job.id, job.lease_id, 30)):
            with pytest.raises(LeaseLost):
                await late
        await broker.recorded()  # a late record of the settled lease changes nothing
        rows = await _rows(clean_db, "SELECT status, attempts, result, last_error "
                                     "FROM quorra_jobs")
        assert rows == [("succeeded", 1, "first", None)]


async def test_xautoclaim_expiry_is_a_counted_failed_attempt(
        clean_db: str, private_redis: PrivateRedis) -> None:
    async with _stream(clean_db, private_redis.url, record_interval=3600) as broker:
        (done,) = await broker.enqueue([spec(max_retries=1)])
        (first,) = await broker.lease(["default"], worker_id="w", limit=1, ttl=1)
        assert first.lease_id is not None
        assert await broker.reap_expired() == []
        await asyncio.sleep(1.1)  # the lease's own TTL: nothing but time expires it
        reaped = await broker.reap_expired()
        assert [(r.id, r.status) for r in reaped] == [(done.id, JobStatus.PENDING)]
        assert broker.redis_expired == 1, "taken back by XAUTOCLAIM, not by the SQL reaper"
        rows = await _rows(clean_db, "SELECT status, attempts, last_error FROM quorra_jobs")
        assert rows == [("pending", 1, "lease expired")]
        with pytest.raises(LeaseLost):
            await broker.ack(first.id, first.lease_id)
        assert await broker.reap_expired() == [], "counted once"

        second = None
        deadline = time.monotonic() + 5  # backoff after the first failure: 2 s
        while second is None and time.monotonic() < deadline:
            await broker.wait_for_jobs(["default"], 0.5)
            jobs = await broker.lease(["default"], worker_id="w", limit=1, ttl=1)
            second = jobs[0] if jobs else None
        assert second is not None and second.attempts == 2
        await broker.recorded()  # this time PostgreSQL knows the lease before it expires
        await asyncio.sleep(1.1)
        reaped = await broker.reap_expired()
        assert [(r.id, r.status) for r in reaped] == [(done.id, JobStatus.DEAD)]
        rows = await _rows(clean_db, "SELECT status, attempts, last_error FROM quorra_jobs")
        assert rows == [("dead", 2, "lease expired")]
        await broker.settled()
        keys = queue_keys("default")
        with private_redis.client() as client:
            assert client.xpending(keys.stream, GROUP)["pending"] == 0
            assert client.hlen(keys.leases) == client.hlen(keys.bodies) == 0


async def test_a_long_pending_list_is_scanned_across_reaps_from_where_the_last_stopped(
        clean_db: str, private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each reap pages through the pending list for a bounded time and the next one goes on
    from its cursor: expired leases behind a long run of live ones are still taken back, each
    once (a scan from the start each time would never reach them)."""
    monkeypatch.setattr(stream_broker_module, "EXPIRY_SCAN_SECONDS", 0.0)  # one page a call
    async with _stream(clean_db, private_redis.url, record_interval=3600) as broker:
        for start in range(0, 3000, 500):
            await broker.enqueue([spec(f"p{start + i}") for i in range(500)])
        live = 0
        while live < 2500:  # a page looks at 10 x 200 entries: these fill more than one
            live += len(await broker.lease(["default"], worker_id="w", limit=500, ttl=30))
        short = await broker.lease(["default"], worker_id="w", limit=500, ttl=1)
        assert len(short) == 500
        await asyncio.sleep(1.1)  # the short leases' own TTL: nothing but time expires them
        reaped = [[r.id for r in await broker.reap_expired()] for _ in range(5)]
        assert reaped[0] == [], "the first page holds only live leases"
        assert sorted(j for ids in reaped for j in ids) == sorted(j.id for j in short)
        assert broker.redis_expired == 500


async def test_heartbeats_keep_a_long_job_on_one_attempt(
        clean_db: str, private_redis: PrivateRedis) -> None:
    async with _stream(clean_db, private_redis.url, record_interval=0.2) as broker:
        await broker.enqueue([spec()])
        (job,) = await broker.lease(["default"], worker_id="w", limit=1, ttl=1)
        assert job.lease_id is not None
        for _ in range(8):  # 2.4 s: more than twice the TTL, recorded meanwhile
            await asyncio.sleep(0.3)
            await broker.extend(job.id, job.lease_id, 1)
            assert await broker.reap_expired() == []
        await broker.ack(job.id, job.lease_id)
        rows = await _rows(clean_db, "SELECT status, attempts FROM quorra_jobs")
        assert rows == [("succeeded", 1)]


@pytest.mark.slow
async def test_flushdb_in_flight_every_job_reaches_a_final_state(
        clean_db: str, private_redis: PrivateRedis) -> None:
    total, lessees, batch = 4000, 8, 10
    executed: list[uuid.UUID] = []
    refused = 0
    at_fault: dict[str, int] = {}
    async with _stream(clean_db, private_redis.url) as broker:
        for start in range(0, total, 500):
            await broker.enqueue([spec(f"f{start + i}") for i in range(500)])

        async def lessee(n: int) -> None:
            nonlocal refused
            stop = time.monotonic() + 120
            while time.monotonic() < stop and len(set(executed)) < total:
                jobs = await broker.lease(["default"], worker_id=f"l{n}", limit=batch, ttl=30)
                if not jobs:
                    await broker.wait_for_jobs(["default"], 0.2)
                    continue
                for job in jobs:
                    assert job.lease_id is not None
                    executed.append(job.id)
                    await asyncio.sleep(0)
                    try:
                        await broker.ack(job.id, job.lease_id)
                    except LeaseLost:
                        refused += 1  # its lease was lost with Redis: it runs again

        async def flush_midway() -> None:
            await eventually(lambda: _true(len(executed) >= 1500), timeout=60,
                             what="1,500 executions before the flush")
            at_fault["unrecorded"] = broker.recorder.backlog
            with private_redis.client() as client:
                client.flushdb()

        await asyncio.gather(flush_midway(), *(lessee(n) for n in range(lessees)))
        assert broker.state.rebuilds >= 2, "the emptied dataset was detected and rebuilt"
    assert await _statuses(clean_db) == {"succeeded": total}
    assert set(executed) == {uuid.UUID(str(r[0])) for r in
                             await _rows(clean_db, "SELECT id FROM quorra_jobs")}
    duplicates = len(executed) - total
    in_flight = lessees * batch  # the leases the lessees can hold at the fault
    print(f"\nFLUSHDB in flight: {duplicates} duplicate runs, {refused} refused acks, "
          f"{at_fault['unrecorded']} unrecorded leases at the fault")
    assert duplicates <= in_flight, (duplicates, at_fault)
    assert refused <= duplicates + lessees * batch


@pytest.mark.slow
async def test_redis_killed_under_load_every_job_reaches_a_final_state(
        clean_db: str, private_redis: PrivateRedis) -> None:
    executed: list[uuid.UUID] = []
    enqueued: list[uuid.UUID] = []
    stop = asyncio.Event()
    produced = asyncio.Event()  # the last enqueue returned (one may be in flight at ``stop``)
    in_flight_at_kill: list[int] = []
    async with _stream(clean_db, private_redis.url) as broker:

        async def producer() -> None:
            for n in range(100_000):
                if stop.is_set():
                    break
                done = await broker.enqueue([spec(f"k{n}.{i}") for i in range(5)])
                enqueued.extend(d.id for d in done)
                await asyncio.sleep(0.01)
            produced.set()

        async def lessee(n: int) -> None:
            while not (produced.is_set() and len(set(executed)) >= len(enqueued)):
                jobs = await broker.lease(["default"], worker_id=f"l{n}", limit=10, ttl=30)
                if not jobs:
                    await broker.wait_for_jobs(["default"], 0.2)
                    continue
                for job in jobs:
                    assert job.lease_id is not None
                    executed.append(job.id)
                    await asyncio.sleep(0.001)
                    with contextlib.suppress(LeaseLost):
                        await broker.ack(job.id, job.lease_id)

        async def chaos() -> None:
            await asyncio.sleep(2)
            in_flight_at_kill.append(40 + broker.recorder.backlog)
            private_redis.kill()
            await eventually(lambda: _true(broker.mode == "postgres"), timeout=3,
                             what="fallback to Postgres dispatch")
            await asyncio.sleep(4)
            private_redis.start()  # empty: nothing was persisted
            await eventually(lambda: _true(broker.mode == "redis"), timeout=10,
                             what="Redis mode to resume")
            await asyncio.sleep(2)
            stop.set()

        async with asyncio.timeout(90):
            await asyncio.gather(producer(), chaos(), *(lessee(n) for n in range(4)))
    assert await _statuses(clean_db) == {"succeeded": len(enqueued)}
    assert set(executed) == set(enqueued)
    duplicates = len(executed) - len(enqueued)
    print(f"\nRedis killed under load: {len(enqueued)} jobs, {duplicates} duplicate runs, "
          f"at most {in_flight_at_kill[0]} in flight at the kill")
    assert duplicates <= in_flight_at_kill[0]


async def _true(value: bool) -> bool:
    return value


@pytest.mark.slow
async def test_redis_memory_back_to_baseline_after_20000_jobs(
        clean_db: str, private_redis: PrivateRedis) -> None:
    total = 20_000
    async with _stream(clean_db, private_redis.url) as broker:
        await broker.enqueue([spec("warm")])
        (warm,) = await broker.lease(["default"], worker_id="w", limit=1, ttl=30)
        await broker.ack(warm.id, lease_of(warm))
        await broker.settled()
        baseline = private_redis.used_memory()
        for start in range(0, total, 1000):
            await broker.enqueue([spec(f"m{start + i}", payload={"n": start + i, "pad": "x" * 100})
                                  for i in range(1000)])
        peak = private_redis.used_memory()
        done = 0

        async def lessee(n: int) -> None:
            nonlocal done
            stop = time.monotonic() + 100
            while done < total and time.monotonic() < stop:
                jobs = await broker.lease(["default"], worker_id=f"l{n}", limit=50, ttl=30)
                if not jobs:
                    await broker.wait_for_jobs(["default"], 0.1)
                    continue
                settled = await broker.ack_many([(j.id, lease_of(j), None) for j in jobs])
                done += len(settled)

        await asyncio.gather(*(lessee(n) for n in range(4)))
        await broker.settled()
        after = private_redis.used_memory()
    assert done == total
    assert peak - baseline > 2 * 1024 * 1024, "the bodies of the backlog did occupy Redis"
    assert after - baseline < 1024 * 1024, f"baseline {baseline}, peak {peak}, after {after}"
    keys = queue_keys("default")
    with private_redis.client() as client:
        assert client.xlen(keys.stream) == 0
        assert client.xpending(keys.stream, GROUP)["pending"] == 0
        for key in (keys.leases, keys.bodies, keys.idx, keys.ready, keys.delayed):
            assert not client.exists(key), key


@pytest.mark.parametrize("recorded", [False, True], ids=["unrecorded", "recorded"])
async def test_leases_settle_while_redis_is_unreachable(
        clean_db: str, private_redis: PrivateRedis, recorded: bool) -> None:
    async with _stream(clean_db, private_redis.url, record_interval=3600) as broker:
        await broker.enqueue([spec(f"u{i}") for i in range(3)])
        a, b, c = await broker.lease(["default"], worker_id="w", limit=3, ttl=30)
        assert a.lease_id and b.lease_id and c.lease_id and a.lease_expires_at
        if recorded:
            await broker.recorded()
        private_redis.kill()
        await eventually(lambda: _true(broker.mode == "postgres"), timeout=5,
                         what="fallback to Postgres dispatch")
        deadline = await broker.extend(a.id, a.lease_id, 60)
        assert deadline > a.lease_expires_at
        assert (await broker.ack(a.id, a.lease_id, "a")).status is JobStatus.SUCCEEDED
        assert (await broker.nack(b.id, b.lease_id, "b", retry=False)).status is JobStatus.DEAD
        with pytest.raises(LeaseLost):
            await broker.ack(c.id, uuid.uuid4())
        assert await broker.release([(c.id, c.lease_id)]) == [c.id]
        await broker.recorded()
    rows = await _rows(clean_db, "SELECT id, status, attempts FROM quorra_jobs")
    assert {r[0]: r[1:] for r in rows} == {a.id: ("succeeded", 1), b.id: ("dead", 1),
                                           c.id: ("pending", 0)}
