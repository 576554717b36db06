"""Queue limits: every driver leases at most ``max_concurrency`` jobs of a limited queue at once
and at most ``rate_limit`` per ``rate_period``, leaves other queues alone, and keeps the limits
in the store (see ``conftest.HARNESSES``)."""

from __future__ import annotations

import asyncio
import time

from quorra.broker.handoff import Lessees, Offer
from quorra.core.jobs import Job, JobStatus
from quorra.core.limits import QueueLimits
from tests.contract.conftest import Harness, spec
from tests.support import eventually

W = "worker-limits"


async def lease(h: Harness, *queues: str, limit: int = 50) -> list[Job]:
    return await h.broker.lease(list(queues or ("default",)), worker_id=W, limit=limit, ttl=30)


async def fill(h: Harness, n: int, queue: str = "default") -> None:
    await h.broker.enqueue([spec(f"{queue}-{i}", queue=queue) for i in range(n)])


class TestLimits:
    async def test_limits_are_kept_and_read_back(self, harness: Harness) -> None:
        assert await harness.broker.get_limits("default") == QueueLimits()
        limits = QueueLimits(max_concurrency=3, rate_limit=10, rate_period=2.5)
        await harness.broker.set_limits("default", limits)  # before the queue's first job
        assert await harness.broker.get_limits("default") == limits
        assert await harness.archive.queue_limits() == {"default": limits}
        await harness.broker.set_limits("default", QueueLimits())
        assert await harness.broker.get_limits("default") == QueueLimits()
        assert await harness.archive.queue_limits() == {}

    async def test_at_most_max_concurrency_leased_at_once(self, harness: Harness) -> None:
        await harness.broker.set_limits("default", QueueLimits(max_concurrency=3))
        await fill(harness, 10)
        await fill(harness, 5, "other")
        first = await lease(harness, "default", "other")
        assert sorted(j.queue for j in first) == ["default"] * 3 + ["other"] * 5
        assert await lease(harness) == []
        done = next(j for j in first if j.queue == "default")
        assert done.lease_id is not None
        settled = await harness.broker.ack(done.id, done.lease_id)
        assert settled.status is JobStatus.SUCCEEDED

        async def one_more() -> list[Job]:
            return await lease(harness)

        # a freed slot (Redis may forget the settled lease a moment after the ack)
        assert len(await eventually(one_more, timeout=5, what="the freed slot")) == 1
        assert await lease(harness) == []

    async def test_concurrent_lessees_never_pass_the_limit_together(
            self, harness: Harness) -> None:
        await harness.broker.set_limits("default", QueueLimits(max_concurrency=3,
                                                               rate_limit=5, rate_period=60))
        await fill(harness, 40)
        for _ in range(2):  # the second round: every lessee finds the limits spent
            leased = await asyncio.gather(*(lease(harness, limit=2) for _ in range(10)))
            assert sum(len(jobs) for jobs in leased) <= 3
        stored = await harness.archive.queue_counts()
        assert sum(c.count for c in stored if c.status is JobStatus.LEASED) <= 3

    async def test_at_most_rate_limit_per_period(self, harness: Harness) -> None:
        await harness.broker.set_limits("default",
                                        QueueLimits(rate_limit=4, rate_period=0.5))
        await fill(harness, 12)
        started = time.monotonic()
        assert len(await lease(harness)) == 4
        assert await lease(harness) == []

        async def next_window() -> list[Job]:
            return await lease(harness)

        assert len(await eventually(next_window, timeout=5, interval=0.02,
                                    what="the next rate window")) == 4
        assert time.monotonic() - started >= 0.4  # not before the window ended

    async def test_removing_limits_lets_everything_through(self, harness: Harness) -> None:
        await harness.broker.set_limits("default", QueueLimits(max_concurrency=2))
        assert await lease(harness) == []  # (the driver now knows the queue is limited)
        await fill(harness, 6)
        assert len(await lease(harness)) == 2
        await harness.broker.set_limits("default", QueueLimits())

        async def the_rest() -> list[Job]:
            return await lease(harness)

        assert len(await eventually(the_rest, timeout=5, what="unlimited leases")) == 4

    async def test_a_paused_limited_queue_leases_nothing(self, harness: Harness) -> None:
        await harness.broker.set_limits("default", QueueLimits(max_concurrency=5))
        await fill(harness, 3)
        await harness.broker.set_paused("default", True)
        assert await lease(harness) == []
        await harness.broker.set_paused("default", False)
        assert len(await lease(harness)) == 3

    async def test_hand_off_never_passes_a_limit(self, harness: Harness) -> None:
        lessees = Lessees()
        harness.broker.hand_off(lessees)
        await harness.broker.set_limits("default", QueueLimits(max_concurrency=1))
        await fill(harness, 1)
        assert len(await lease(harness)) == 1
        offer = Offer(("default",), worker_id=W, limit=5, ttl=30)
        lessees.post(offer)
        (done,) = await harness.broker.enqueue([spec("waits")])
        assert done.status is JobStatus.PENDING
        if offer.claimed:
            assert offer.jobs.result() == []
        assert await lease(harness) == []
