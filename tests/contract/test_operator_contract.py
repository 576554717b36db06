"""Operator transitions (retry, retry-all-dead, delete) and the archive's listing: every driver
passes these too (see ``conftest.HARNESSES``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from quorra.archive.base import JobFilter
from quorra.core.errors import InvalidTransition, JobNotFound
from quorra.core.jobs import Job, JobStatus
from tests.contract.conftest import Harness, spec

W = "worker-test"


async def make_dead(h: Harness, queue: str = "default", error: str = "boom") -> Job:
    (done,) = await h.broker.enqueue([spec(queue=queue, max_retries=0)])
    (job,) = await h.broker.lease([queue], worker_id=W, limit=1, ttl=30)
    assert job.id == done.id and job.lease_id is not None
    assert (await h.broker.nack(job.id, job.lease_id, error)).status is JobStatus.DEAD
    return await h.archive.get(done.id)


class TestRetry:
    async def test_retry_dead_job_is_pending_now_attempts_reset(self, harness: Harness) -> None:
        dead = await make_dead(harness, error="kaput")
        job = await harness.broker.retry(dead.id)
        assert (job.status, job.attempts, job.last_error) == (JobStatus.PENDING, 0, "kaput")
        assert job.finished_at is None and job.run_at <= datetime.now(UTC)
        stored = await harness.archive.get(dead.id)
        assert (stored.status, stored.attempts) == (JobStatus.PENDING, 0)
        (again,) = await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30)
        assert again.id == dead.id and again.attempts == 1

    async def test_retry_refuses_live_jobs(self, harness: Harness) -> None:
        (pending,) = await harness.broker.enqueue([spec()])
        with pytest.raises(InvalidTransition):
            await harness.broker.retry(pending.id)
        (leased,) = await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30)
        with pytest.raises(InvalidTransition):
            await harness.broker.retry(leased.id)
        assert leased.lease_id is not None
        await harness.broker.ack(leased.id, leased.lease_id)
        with pytest.raises(InvalidTransition):
            await harness.broker.retry(leased.id)
        assert (await harness.archive.get(leased.id)).status is JobStatus.SUCCEEDED

    async def test_retry_unknown_job(self, harness: Harness) -> None:
        with pytest.raises(JobNotFound):
            await harness.broker.retry(uuid.uuid4())

    async def test_retry_dead_retries_one_queue_only(self, harness: Harness) -> None:
        dead_a = [await make_dead(harness, "a") for _ in range(3)]
        dead_b = await make_dead(harness, "b")
        assert await harness.broker.retry_dead("a") == 3
        assert await harness.broker.retry_dead("a") == 0
        for job in dead_a:
            assert (await harness.archive.get(job.id)).status is JobStatus.PENDING
        assert (await harness.archive.get(dead_b.id)).status is JobStatus.DEAD
        leased = await harness.broker.lease(["a", "b"], worker_id=W, limit=10, ttl=30)
        assert {job.id for job in leased} == {job.id for job in dead_a}


class TestDelete:
    async def test_delete_removes_pending_and_dead_jobs(self, harness: Harness) -> None:
        (pending,) = await harness.broker.enqueue([spec()])
        dead = await make_dead(harness, "q2")
        for job_id in (pending.id, dead.id):
            await harness.broker.delete(job_id)
            with pytest.raises(JobNotFound):
                await harness.archive.get(job_id)
        with pytest.raises(JobNotFound):
            await harness.broker.delete(pending.id)
        assert await harness.broker.lease(["default", "q2"], worker_id=W, limit=5, ttl=30) == []

    async def test_delete_refuses_a_leased_job(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec()])
        (job,) = await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30)
        with pytest.raises(InvalidTransition):
            await harness.broker.delete(job.id)
        assert (await harness.archive.get(job.id)).status is JobStatus.LEASED


class TestListJobs:
    async def test_filters_and_keyset_pages_newest_first(self, harness: Harness) -> None:
        ids = []
        for i in range(7):  # one by one: distinct creation order
            (done,) = await harness.broker.enqueue([spec("even" if i % 2 == 0 else "odd",
                                                         queue="q1" if i < 5 else "q2")])
            ids.append(done.id)
        seen: list[uuid.UUID] = []
        after = None
        for _ in range(10):
            page = await harness.archive.list_jobs(JobFilter(), limit=3, after=after)
            seen.extend(job.id for job in page.jobs)
            after = page.after
            if after is None:
                break
        assert seen == ids[::-1]
        evens = await harness.archive.list_jobs(JobFilter(queue="q1", type="even"), limit=10)
        assert [j.id for j in evens.jobs] == [ids[4], ids[2], ids[0]] and evens.after is None
        dead = await make_dead(harness, "q3")
        only_dead = await harness.archive.list_jobs(JobFilter(status=JobStatus.DEAD), limit=10)
        assert [j.id for j in only_dead.jobs] == [dead.id]

    async def test_exact_page_has_no_next(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec() for _ in range(2)])
        page = await harness.archive.list_jobs(JobFilter(), limit=2)
        assert len(page.jobs) == 2 and page.after is None
