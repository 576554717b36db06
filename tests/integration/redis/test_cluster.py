"""Redis Cluster faults, on the session's cluster (``redis_cluster``: 3 masters + 3 replicas;
the contract suite runs on it too). Under load, in both lease paths: a manual master failover
(``CLUSTER FAILOVER`` on its replica) and a master killed (its replica promoted, the node back
empty as a replica) — every job reaches a final state, none is lost, duplicates stay within the
jobs in flight at the fault. Also: the token survives a failover, wake-ups published on every
master reach one subscriber, and a cluster nobody answers for falls back at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg
import pytest

from quorra.broker.redis import RedisBroker, connect
from quorra.broker.redis.keys import TOKEN, queue_keys
from quorra.core.errors import LeaseLost
from tests.contract.conftest import spec
from tests.integration.redis.lessee import housekeeping, open_broker
from tests.redis_cluster import LocalCluster
from tests.support import eventually, free_port

FAST: dict[str, Any] = {"probe_interval": 0.1, "recover_after": 1.0, "min_fallback": 2.0,
                        "fail_after": 0.3, "reclaim_idle": 3.0}
TTL = 10  # a lease whose reply the fault took expires within the test
QUEUE = "default"


async def _statuses(db: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        cur = await conn.execute("SELECT status, count(*) FROM quorra_jobs GROUP BY status")
        return {status: n for status, n in await cur.fetchall()}


async def _true(value: bool) -> bool:
    return value


class _Load:
    """Enqueues a backlog and a steady trickle, and runs lease→ack lessees; records every job
    handed out (a duplicate is a job handed out twice) and the jobs in flight."""

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        self.enqueued: list[uuid.UUID] = []
        self.handed: list[uuid.UUID] = []
        self.holding: set[uuid.UUID] = set()
        self.refused = 0
        self.stop = asyncio.Event()
        self.produced = asyncio.Event()  # the last enqueue returned: ``enqueued`` is complete

    async def produce(self, backlog: int) -> None:
        try:
            for start in range(0, backlog, 250):
                done = await self.broker.enqueue([spec(f"b{start + i}") for i in range(250)])
                self.enqueued += [d.id for d in done]
            for n in range(5000):  # ~100/s until stopped
                if self.stop.is_set():
                    return
                (one,) = await self.broker.enqueue([spec(f"s{n}")])
                self.enqueued.append(one.id)
                await asyncio.sleep(0.01)
        finally:
            self.produced.set()

    async def lessee(self, n: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.produced.is_set() and set(self.handed) >= set(self.enqueued):
                return
            jobs = await self.broker.lease([QUEUE], worker_id=f"w{n}", limit=10, ttl=TTL)
            if not jobs:
                if self.produced.is_set():  # a proposal or a lease the failed master took
                    await housekeeping(self.broker)  # with it comes back
                await self.broker.wait_for_jobs([QUEUE], 0.2)
                continue
            self.handed += [j.id for j in jobs]
            self.holding.update(j.id for j in jobs)
            for job in jobs:
                assert job.lease_id is not None
                try:
                    await self.broker.ack(job.id, job.lease_id)
                except LeaseLost:
                    self.refused += 1  # taken back and handed out again: counted as duplicate
                self.holding.discard(job.id)


async def _under_load(db: str, cluster: LocalCluster, leases: str,
                      fault: Callable[[int], Coroutine[Any, Any, float]]
                      ) -> tuple[_Load, dict[str, float]]:
    """Runs the load, and ``fault(master of the queue)`` once 500 jobs were handed out; returns
    the load and its figures (in flight during the fault, fallbacks and rebuilds it caused)."""
    cluster.flush()
    async with open_broker(db, cluster.url, leases=leases, **FAST) as broker:
        assert isinstance(broker, RedisBroker) and broker.mode == "redis", broker.health()
        load = _Load(broker)
        figures: dict[str, float] = {}

        async def chaos() -> None:
            await eventually(lambda: _true(len(load.handed) >= 500), timeout=30,
                             what="500 jobs handed out before the fault")
            figures["in_flight"] = len(load.holding)
            before = (broker.state.fallbacks, broker.state.rebuilds)
            task = asyncio.create_task(fault(cluster.master_of(queue_keys(QUEUE).ready)))
            while not task.done():  # the most jobs in flight while the fault lasts
                figures["in_flight"] = max(figures["in_flight"], len(load.holding))
                await asyncio.sleep(0.01)
            figures["fault_s"] = task.result()
            await eventually(lambda: _true(broker.mode == "redis"), timeout=30,
                             what="Redis mode after the fault")
            figures["fallbacks"] = broker.state.fallbacks - before[0]
            figures["rebuilds"] = broker.state.rebuilds - before[1]
            await asyncio.sleep(1)
            load.stop.set()

        deadline = time.monotonic() + 90
        await asyncio.gather(chaos(), load.produce(1500),
                             *(load.lessee(n, deadline) for n in range(6)))
        await broker.settled()
        if hasattr(broker, "recorded"):
            await broker.recorded()
    figures["duplicates"] = sum(n - 1 for n in Counter(load.handed).values())
    print(f"\n{leases}: {len(load.enqueued)} jobs, fault {figures['fault_s']:.2f}s, in flight "
          f"{figures['in_flight']:.0f}, duplicates {figures['duplicates']:.0f}, refused acks "
          f"{load.refused}, fallbacks {figures['fallbacks']:.0f}, rebuilds "
          f"{figures['rebuilds']:.0f}")
    assert set(load.handed) == set(load.enqueued), "none lost"
    assert await _statuses(db) == {"succeeded": len(load.enqueued)}
    assert figures["duplicates"] <= figures["in_flight"], "duplicates bounded by jobs in flight"
    return load, figures


@pytest.mark.parametrize("leases", ["grant", "stream"])
async def test_master_failover_under_load_loses_nothing(
        clean_db: str, redis_cluster: LocalCluster, leases: str) -> None:
    """``CLUSTER FAILOVER`` on the replica of the queue's master: followed, not a new dataset."""
    taken: list[int] = []

    async def failover(master: int) -> float:
        taken.append(redis_cluster.replica_of(master))
        return await asyncio.to_thread(redis_cluster.failover, taken[0])

    _, figures = await _under_load(clean_db, redis_cluster, leases, failover)
    assert redis_cluster.master_of(queue_keys(QUEUE).ready) == taken[0], "the replica took over"
    assert figures["rebuilds"] <= figures["fallbacks"], "the failover was no new dataset"


@pytest.mark.parametrize("leases", ["grant", "stream"])
async def test_master_killed_under_load_loses_nothing(
        clean_db: str, redis_cluster: LocalCluster, leases: str) -> None:
    """SIGKILL of the queue's master: its replica takes over after the node timeout; the server
    falls back to Postgres-only dispatch meanwhile and rebuilds (the designed failure path).
    The killed node comes back empty as a replica."""

    async def kill(master: int) -> float:
        replica = redis_cluster.replica_of(master)
        started = time.monotonic()
        redis_cluster.kill(master)
        await asyncio.to_thread(redis_cluster.wait_master, replica)
        await asyncio.to_thread(redis_cluster.restart, master)
        return time.monotonic() - started

    try:
        _, figures = await _under_load(clean_db, redis_cluster, leases, kill)
    finally:
        redis_cluster.heal()  # whatever happened, the next test gets a whole cluster
    assert figures["fallbacks"] >= 1 and figures["rebuilds"] >= 1


async def test_token_survives_a_failover_of_its_master(redis_cluster: LocalCluster) -> None:
    """The dataset's identity on a cluster is the token: replicated, so a failover keeps it."""
    from quorra.broker.redis import RedisIndex

    redis_cluster.flush()  # its own dataset: an earlier test may have left a stream-lease one
    index = RedisIndex(connect(redis_cluster.url))
    try:
        token = await index.init()
        await asyncio.sleep(0.2)  # replication is asynchronous; the manual failover waits anyway
        master = redis_cluster.master_of(TOKEN)
        await asyncio.to_thread(redis_cluster.failover, redis_cluster.replica_of(master))
        identity = await eventually(index.identity, timeout=10, what="the cluster answering")
        assert identity.token == token and identity.run_id is None
    finally:
        await index.close()


async def test_unreachable_cluster_falls_back_at_once(clean_db: str) -> None:
    started = time.monotonic()
    async with open_broker(clean_db, f"redis+cluster://127.0.0.1:{free_port()}/0",
                           **FAST) as broker:
        assert broker.mode == "postgres"
        (job,) = await broker.enqueue([spec("t")])
        (leased,) = await broker.lease([QUEUE], worker_id="w", limit=1, ttl=30)
        assert leased.id == job.id
    assert time.monotonic() - started < 5


async def test_wake_ups_published_on_every_master_reach_the_subscriber(
        redis_cluster: LocalCluster) -> None:
    """Classic pub/sub is cluster-wide: a ``PUBLISH`` in a script on any master reaches the one
    subscription a server holds, whichever node it is connected to."""
    from datetime import UTC, datetime

    from quorra.broker.redis import RedisIndex
    from quorra.broker.redis.index import Entry

    redis_cluster.flush()
    by_master: dict[int, str] = {}
    for n in range(200):  # one queue per master
        by_master.setdefault(redis_cluster.master_of(queue_keys(f"wq{n}").ready), f"wq{n}")
        if len(by_master) == 3:
            break
    assert len(by_master) == 3
    index = RedisIndex(connect(redis_cluster.url))
    try:
        async with index.subscription() as pubsub:
            for queue in by_master.values():
                entry = Entry(uuid.uuid4(), queue, 1, 0, datetime.now(UTC))
                assert await index.dispatch(queue, [entry]) == 1
            heard: set[str] = set()
            deadline = time.monotonic() + 5
            while heard != set(by_master.values()) and time.monotonic() < deadline:
                message = await index.next_message(pubsub, 0.5)
                if message is not None:
                    heard.add(message)
        assert heard == set(by_master.values())
    finally:
        await index.close()
