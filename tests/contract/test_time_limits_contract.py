"""Time limits (``timeout_seconds``) on every broker: a lease never outlives the job's deadline
(lease start + timeout), however long the TTL asked for or the heartbeats; at the deadline the
lease expires and the reaper records a failed attempt that 'timed out'. Jobs without a limit
keep the TTL they ask for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from quorra.core.errors import LeaseLost
from quorra.core.jobs import TIMED_OUT, Job, JobStatus
from tests.contract.conftest import Harness, spec
from tests.contract.test_broker_contract import W, lease_one

LIMIT = 0.6  # seconds: real time, since the deadline is the store's clock plus the limit
TOLERANCE = timedelta(milliseconds=2)


def deadline_of(job: Job) -> datetime:
    assert job.leased_at is not None and job.timeout_seconds is not None
    return job.leased_at + timedelta(seconds=job.timeout_seconds)


async def until_past(when: datetime) -> None:
    """Wait (bounded) until the wall clock has passed ``when``."""
    await asyncio.sleep(max((when - datetime.now(UTC)).total_seconds(), 0) + 0.05)


async def reap_until(h: Harness, job_id: object, rounds: int = 50) -> list[object]:
    """The reaper's outcomes until it took back ``job_id`` (bounded)."""
    for _ in range(rounds):
        reaped = await h.broker.reap_expired()
        if any(r.id == job_id for r in reaped):
            return list(reaped)
        await asyncio.sleep(0.05)
    raise AssertionError("the lease was never reaped")


class TestLease:
    async def test_lease_ttl_is_cut_to_the_deadline(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(timeout_seconds=LIMIT)])
        job = await lease_one(harness, ttl=30)
        assert job.timeout_seconds == LIMIT
        assert job.lease_expires_at is not None
        assert abs(job.lease_expires_at - deadline_of(job)) <= TOLERANCE
        assert job.deadline == deadline_of(job)

    async def test_short_ttl_is_kept(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(timeout_seconds=3600)])
        job = await lease_one(harness, ttl=5)
        assert job.lease_expires_at is not None and job.leased_at is not None
        assert job.lease_expires_at - job.leased_at <= timedelta(seconds=5) + TOLERANCE

    async def test_job_without_limit_is_unchanged(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec()])
        job = await lease_one(harness, ttl=30)
        assert job.timeout_seconds is None and job.deadline is None
        assert job.lease_expires_at is not None and job.leased_at is not None
        assert job.lease_expires_at - job.leased_at >= timedelta(seconds=29)
        assert job.lease_id is not None
        extended = await harness.broker.extend(job.id, job.lease_id, 60)
        assert extended - datetime.now(UTC) >= timedelta(seconds=59)
        assert (await harness.archive.get(job.id)).timeout_seconds is None


class TestExtend:
    async def test_extend_is_clamped_at_the_deadline(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(timeout_seconds=LIMIT)])
        job = await lease_one(harness, ttl=30)
        assert job.lease_id is not None
        for _ in range(3):  # every heartbeat: never past the deadline
            extended = await harness.broker.extend(job.id, job.lease_id, 60)
            assert extended <= deadline_of(job) + TOLERANCE
            assert extended >= deadline_of(job) - TOLERANCE
        await until_past(deadline_of(job))
        with pytest.raises(LeaseLost):  # a worker heartbeating a hung handler loses the job
            await harness.broker.extend(job.id, job.lease_id, 60)
        with pytest.raises(LeaseLost):
            await harness.broker.ack(job.id, job.lease_id, None)

    async def test_extend_within_the_limit_moves_the_lease(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(timeout_seconds=3600)])
        job = await lease_one(harness, ttl=2)
        assert job.lease_id is not None
        extended = await harness.broker.extend(job.id, job.lease_id, 30)
        assert extended - datetime.now(UTC) >= timedelta(seconds=29)


class TestExpiry:
    async def test_deadline_expiry_is_a_failed_attempt_that_timed_out(
            self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec(timeout_seconds=LIMIT, max_retries=1)])
        job = await lease_one(harness, ttl=30)
        assert job.lease_id is not None
        await harness.broker.extend(job.id, job.lease_id, 30)  # heartbeats do not help
        await until_past(deadline_of(job))
        reaped = await reap_until(harness, done.id)
        (settled,) = [r for r in reaped if r.id == done.id]  # type: ignore[attr-defined]
        assert settled.status is JobStatus.PENDING and settled.timed_out  # type: ignore[attr-defined]
        stored = await harness.archive.get(done.id)
        assert (stored.status, stored.last_error, stored.attempts) == (
            JobStatus.PENDING, TIMED_OUT, 1)
        assert stored.timeout_seconds == LIMIT
        # the retry runs under the same limit, from its own lease start, then goes dead
        await harness.make_due(done.id)
        second = await lease_one(harness, ttl=30)
        assert second.attempts == 2 and second.timeout_seconds == LIMIT
        assert second.lease_expires_at is not None
        assert abs(second.lease_expires_at - deadline_of(second)) <= TOLERANCE
        await until_past(deadline_of(second))
        reaped = await reap_until(harness, done.id)
        assert [r.status for r in reaped if r.id == done.id] == [  # type: ignore[attr-defined]
            JobStatus.DEAD]
        assert (await harness.archive.get(done.id)).last_error == TIMED_OUT

    async def test_ttl_expiry_before_the_deadline_is_a_lease_expiry(
            self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec(timeout_seconds=3600)])
        job = await lease_one(harness, ttl=30)
        await harness.expire_lease(job.id)
        reaped = await reap_until(harness, done.id)
        assert not any(r.timed_out for r in reaped)  # type: ignore[attr-defined]
        assert (await harness.archive.get(done.id)).last_error == "lease expired"

    async def test_worker_nack_before_the_deadline_wins(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec(timeout_seconds=LIMIT)])
        job = await lease_one(harness, ttl=30)
        assert job.lease_id is not None
        await harness.broker.nack(job.id, job.lease_id, "timed out after 0.6s")
        await until_past(deadline_of(job))
        assert [r for r in await harness.broker.reap_expired() if r.id == done.id] == []
        stored = await harness.archive.get(done.id)
        assert (stored.status, stored.last_error) == (JobStatus.PENDING, "timed out after 0.6s")


async def test_lease_many_mixes_limits(harness: Harness) -> None:
    await harness.broker.enqueue([spec(timeout_seconds=LIMIT), spec()])
    jobs = await harness.broker.lease(["default"], worker_id=W, limit=2, ttl=30)
    assert sorted(j.timeout_seconds is None for j in jobs) == [False, True]
    for job in jobs:
        assert job.lease_expires_at is not None and job.leased_at is not None
        span = job.lease_expires_at - job.leased_at
        if job.timeout_seconds is None:
            assert span >= timedelta(seconds=29)
        else:
            assert span <= timedelta(seconds=LIMIT) + TOLERANCE
