"""Queue pause/resume, retention of finished jobs, and the queue counts that stay right through
every transition: every driver passes these (see ``conftest.HARNESSES``)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from quorra.core.errors import QueueNotFound
from quorra.core.jobs import JobStatus
from tests.contract.conftest import Harness, spec
from tests.contract.test_operator_contract import make_dead

W = "worker-test"


async def counts(h: Harness) -> dict[tuple[str, str], int]:
    return {(c.queue, c.status.value): c.count for c in await h.archive.queue_counts()}


async def succeed(h: Harness, queue: str, n: int = 1) -> list[uuid.UUID]:
    await h.broker.enqueue([spec(queue=queue) for _ in range(n)])
    jobs = await h.broker.lease([queue], worker_id=W, limit=n, ttl=30)
    assert len(jobs) == n
    for job in jobs:
        assert job.lease_id is not None
        await h.broker.ack(job.id, job.lease_id)
    return [job.id for job in jobs]


async def age_finished(url: str, ids: list[uuid.UUID], seconds: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("UPDATE quorra_jobs SET finished_at = now() - make_interval(secs => %s)"
                           " WHERE id = ANY(%s)", (seconds, ids))


class TestPause:
    async def test_paused_queue_is_not_leased_others_are(self, harness: Harness) -> None:
        (held,) = await harness.broker.enqueue([spec(queue="held")])
        (free,) = await harness.broker.enqueue([spec(queue="free")])
        await harness.broker.set_paused("held", True)
        jobs = await harness.broker.lease(["held", "free"], worker_id=W, limit=10, ttl=30)
        assert [job.id for job in jobs] == [free.id]
        assert await harness.broker.lease(["held"], worker_id=W, limit=10, ttl=30) == []
        assert (await harness.archive.get(held.id)).status is JobStatus.PENDING

    async def test_enqueue_into_paused_queue_is_accepted_and_held(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(queue="held")])
        await harness.broker.set_paused("held", True)
        later = await harness.broker.enqueue([spec(queue="held", priority=5) for _ in range(3)])
        assert all(item.status is JobStatus.PENDING for item in later)
        assert await harness.broker.lease(["held"], worker_id=W, limit=10, ttl=30) == []
        assert (await counts(harness))[("held", "pending")] == 4

    async def test_resume_leases_again_in_order(self, harness: Harness) -> None:
        low = await harness.broker.enqueue([spec(queue="held", priority=1)])
        await harness.broker.set_paused("held", True)
        (high,) = await harness.broker.enqueue([spec(queue="held", priority=9)])
        assert await harness.broker.lease(["held"], worker_id=W, limit=10, ttl=30) == []
        await harness.broker.set_paused("held", False)
        jobs = await harness.broker.lease(["held"], worker_id=W, limit=10, ttl=30)
        assert [job.id for job in jobs] == [high.id, low[0].id]

    async def test_pause_is_idempotent_and_recorded(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(queue="held"), spec(queue="other")])
        for _ in range(2):
            await harness.broker.set_paused("held", True)
        assert await harness.archive.queue_states() == [("held", True)]
        for _ in range(2):
            await harness.broker.set_paused("held", False)
        assert await harness.archive.queue_states() == [("held", False)]

    async def test_unknown_queue_cannot_be_paused(self, harness: Harness) -> None:
        with pytest.raises(QueueNotFound):
            await harness.broker.set_paused("nobody-here", True)
        with pytest.raises(QueueNotFound):
            await harness.broker.set_paused("nobody-here", False)

    async def test_leased_jobs_still_settle_while_paused(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(queue="held"), spec(queue="held")])
        (job,) = await harness.broker.lease(["held"], worker_id=W, limit=1, ttl=30)
        await harness.broker.set_paused("held", True)
        assert job.lease_id is not None
        assert (await harness.broker.ack(job.id, job.lease_id)).status is JobStatus.SUCCEEDED
        assert await harness.broker.lease(["held"], worker_id=W, limit=10, ttl=30) == []

    async def test_delayed_job_becoming_due_in_paused_queue_waits(self, harness: Harness
                                                                  ) -> None:
        (job,) = await harness.broker.enqueue([spec(queue="held", delay_seconds=3600)])
        await harness.broker.set_paused("held", True)
        await harness.make_due(job.id)
        assert await harness.broker.lease(["held"], worker_id=W, limit=1, ttl=30) == []
        await harness.broker.set_paused("held", False)
        (again,) = await harness.broker.lease(["held"], worker_id=W, limit=1, ttl=30)
        assert again.id == job.id


class TestRetention:
    async def test_purge_deletes_only_old_jobs_of_that_status(self, harness: Harness,
                                                              clean_db: str) -> None:
        old = await succeed(harness, "r", 3)
        fresh = await succeed(harness, "r", 1)
        dead = await make_dead(harness, "r")
        (live,) = await harness.broker.enqueue([spec(queue="r")])
        await age_finished(clean_db, [*old, dead.id], 3600)
        assert await harness.broker.purge_finished(JobStatus.SUCCEEDED, 60, 2) == ["r", "r"]
        assert await harness.broker.purge_finished(JobStatus.SUCCEEDED, 60, 2) == ["r"]
        assert await harness.broker.purge_finished(JobStatus.SUCCEEDED, 60, 2) == []
        for job_id in [fresh[0], dead.id, live.id]:
            await harness.archive.get(job_id)  # still there
        assert await counts(harness) == {("r", "succeeded"): 1, ("r", "dead"): 1,
                                         ("r", "pending"): 1}
        assert await harness.broker.purge_finished(JobStatus.DEAD, 60, 10) == ["r"]
        assert ("r", "dead") not in await counts(harness)

    async def test_counts_follow_every_transition(self, harness: Harness) -> None:
        done = await succeed(harness, "c", 2)
        dead = await make_dead(harness, "c")
        expected = {("c", "succeeded"): 2, ("c", "dead"): 1}
        assert await counts(harness) == expected
        await harness.broker.fold_counts()
        assert await counts(harness) == expected
        await harness.broker.retry(dead.id)
        await harness.broker.delete(done[0])
        assert await counts(harness) == {("c", "succeeded"): 1, ("c", "pending"): 1}
        await harness.broker.fold_counts()
        await harness.broker.fold_counts()
        assert await counts(harness) == {("c", "succeeded"): 1, ("c", "pending"): 1}
        (job,) = await harness.broker.lease(["c"], worker_id=W, limit=1, ttl=30)
        assert await counts(harness) == {("c", "succeeded"): 1, ("c", "leased"): 1}
        assert job.lease_id is not None
        await harness.broker.ack(job.id, job.lease_id)
        await harness.broker.delete(done[1])
        await harness.broker.fold_counts()
        assert await counts(harness) == {("c", "succeeded"): 1}


@pytest.fixture(params=["redis_harness", "fakeredis_harness"])
def redis_mode(request: pytest.FixtureRequest) -> Harness:
    result: Harness = request.getfixturevalue(request.param)
    return result


class TestPauseInRedisMode:
    """The Redis mirror of a pause: ``lease.lua`` serves nothing, the grant refuses a paused job
    even when the mirror is missing, and a rebuild restores the mirror from Postgres."""

    async def test_lost_mirror_still_leases_nothing(self, redis_harness: Harness) -> None:
        # real Redis only: the in-process fake does not hand the popped proposal to the grant
        from quorra.broker.redis import RedisBroker
        from quorra.broker.redis.keys import queue_keys

        broker = redis_harness.broker
        assert isinstance(broker, RedisBroker)
        await broker.enqueue([spec(queue="held")])
        await broker.set_paused("held", True)
        assert await broker.index.client.exists(queue_keys("held").paused) == 1
        await broker.index.client.delete(queue_keys("held").paused)
        assert await broker.lease(["held"], worker_id=W, limit=5, ttl=30) == []  # grant refuses
        await broker.settled()  # the refused proposal is dropped
        await broker.repair()  # the repair sweep mirrors the flag again
        assert await broker.index.client.exists(queue_keys("held").paused) == 1
        await broker.set_paused("held", False)  # proposes the queue's pending jobs again,
        await broker.supervisor.resume_sweeps()  # in the background
        assert len(await broker.lease(["held"], worker_id=W, limit=5, ttl=30)) == 1

    async def test_rebuild_restores_the_pause(self, redis_mode: Harness) -> None:
        from quorra.broker.redis import RedisBroker

        broker = redis_mode.broker
        assert isinstance(broker, RedisBroker)
        await broker.enqueue([spec(queue="held"), spec(queue="free")])
        await broker.set_paused("held", True)
        await broker.index.client.flushdb()  # Redis emptied: a new dataset
        await broker.supervisor.check()
        assert broker.mode == "redis"
        jobs = await broker.lease(["held", "free"], worker_id=W, limit=5, ttl=30)
        assert [job.queue for job in jobs] == ["free"]
        assert await broker.index.next_wait("held") == -1  # paused: no busy polling
        await broker.set_paused("held", False)
        assert [job.queue for job in await broker.lease(["held"], worker_id=W, limit=5,
                                                        ttl=30)] == ["held"]
