"""Cancel (one job, and in bulk by queue and type): every driver passes these (see
``conftest.HARNESSES``). A cancelled job is never leased again, and the lease a cancel voided
settles nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from quorra.core.errors import InvalidTransition, JobNotFound, LeaseLost
from quorra.core.jobs import JobStatus
from tests.contract.conftest import Harness, spec
from tests.contract.test_operator_contract import make_dead

W = "worker-test"


async def _nothing_leased(h: Harness, queues: list[str]) -> None:
    assert await h.broker.lease(queues, worker_id=W, limit=50, ttl=30) == []


class TestCancel:
    async def test_pending_job_is_cancelled_and_never_leased(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec()])
        cancelled = await harness.broker.cancel(done.id)
        assert cancelled.changed and cancelled.lease_id is None
        assert cancelled.job is not None and cancelled.job.status is JobStatus.CANCELLED
        stored = await harness.archive.get(done.id)
        assert stored.status is JobStatus.CANCELLED and stored.finished_at is not None
        await _nothing_leased(harness, ["default"])

    async def test_delayed_job_is_never_leased(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec(delay_seconds=3600)])
        await harness.broker.cancel(done.id)
        await harness.make_due(done.id)  # its time comes: still never leased
        await _nothing_leased(harness, ["default"])
        assert (await harness.archive.get(done.id)).status is JobStatus.CANCELLED

    async def test_backing_off_job_is_never_leased(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec(max_retries=3)])
        (job,) = await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30)
        assert job.lease_id is not None
        assert (await harness.broker.nack(job.id, job.lease_id, "x")).status is JobStatus.PENDING
        await harness.broker.cancel(done.id)
        await harness.make_due(done.id)
        await _nothing_leased(harness, ["default"])
        stored = await harness.archive.get(done.id)
        assert (stored.status, stored.attempts, stored.last_error) == (
            JobStatus.CANCELLED, 1, "x")

    async def test_leased_job_lease_is_void(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec()])
        (job,) = await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30)
        assert job.lease_id is not None
        cancelled = await harness.broker.cancel(done.id)
        assert cancelled.changed
        for late in (harness.broker.ack(job.id, job.lease_id, {"late": True}),
                     harness.broker.nack(job.id, job.lease_id, "late"),
                     harness.broker.extend(job.id, job.lease_id, 30)):
            with pytest.raises(LeaseLost):
                await late
        assert await harness.broker.ack_many([(job.id, job.lease_id, None)]) == []
        assert await harness.broker.release([(job.id, job.lease_id)]) == []
        stored = await harness.archive.get(done.id)
        assert (stored.status, stored.result, stored.lease_id) == (JobStatus.CANCELLED, None,
                                                                   None)
        await harness.expire_lease(done.id)
        assert await harness.broker.reap_expired() == []
        await _nothing_leased(harness, ["default"])
        assert (await harness.archive.get(done.id)).status is JobStatus.CANCELLED

    async def test_voided_lease_is_told_to_the_hook(self, harness: Harness) -> None:
        told: list[tuple[uuid.UUID, uuid.UUID]] = []
        harness.broker.on_cancel(lambda job, lease: told.append((job, lease)))
        await harness.broker.enqueue([spec(), spec()])
        leased = await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30)
        (pending,) = [j for j in await harness.archive.recent(10) if j.id != leased[0].id]
        await harness.broker.cancel(pending.id)
        assert told == []  # a pending job had no lease to void
        await harness.broker.cancel(leased[0].id)
        assert told == [(leased[0].id, leased[0].lease_id)]

    async def test_cancel_is_idempotent(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec()])
        assert (await harness.broker.cancel(done.id)).changed
        again = await harness.broker.cancel(done.id)
        assert not again.changed and again.job is not None
        assert again.job.status is JobStatus.CANCELLED

    async def test_finished_jobs_are_refused(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec()])
        (job,) = await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30)
        assert job.lease_id is not None
        await harness.broker.ack(job.id, job.lease_id)
        dead = await make_dead(harness, "q2")
        for job_id in (done.id, dead.id):
            with pytest.raises(InvalidTransition):
                await harness.broker.cancel(job_id)
        assert (await harness.archive.get(done.id)).status is JobStatus.SUCCEEDED
        assert (await harness.archive.get(dead.id)).status is JobStatus.DEAD

    async def test_unknown_job(self, harness: Harness) -> None:
        with pytest.raises(JobNotFound):
            await harness.broker.cancel(uuid.uuid4())

    async def test_cancelled_job_can_be_retried(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec()])
        await harness.broker.cancel(done.id)
        await harness.broker.retry(done.id)
        (job,) = await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30)
        assert job.id == done.id

    async def test_cancel_racing_lessees_never_leaves_a_live_lease(
            self, harness: Harness) -> None:
        done = await harness.broker.enqueue([spec() for _ in range(20)])
        leases = asyncio.gather(*[harness.broker.lease(["default"], worker_id=W, limit=2,
                                                       ttl=30) for _ in range(5)])
        cancels = asyncio.gather(*[harness.broker.cancel(d.id) for d in done])
        leased, _ = await asyncio.gather(leases, cancels)
        for job in [j for batch in leased for j in batch]:
            assert job.lease_id is not None
            with pytest.raises(LeaseLost):
                await harness.broker.ack(job.id, job.lease_id)
        for d in done:
            assert (await harness.archive.get(d.id)).status is JobStatus.CANCELLED
        await _nothing_leased(harness, ["default"])


class TestCancelMany:
    async def test_by_queue_and_type(self, harness: Harness) -> None:
        a = await harness.broker.enqueue([spec("x", queue="a") for _ in range(3)]
                                         + [spec("y", queue="a", delay_seconds=600)])
        b = await harness.broker.enqueue([spec("x", queue="b") for _ in range(2)])
        (leased,) = await harness.broker.lease(["b"], worker_id=W, limit=1, ttl=30)
        assert leased.lease_id is not None
        assert len(await harness.broker.cancel_many("a", "x", 100)) == 3
        assert (await harness.archive.get(a[3].id)).status is JobStatus.PENDING  # type y
        done = await harness.broker.cancel_many(None, "x", 100)
        assert {c.id for c in done} == {j.id for j in b}
        assert {c.lease_id for c in done if c.lease_id} == {leased.lease_id}
        with pytest.raises(LeaseLost):
            await harness.broker.ack(leased.id, leased.lease_id)
        assert await harness.broker.cancel_many(None, "x", 100) == []
        await _nothing_leased(harness, ["b"])
        await harness.make_due(a[3].id)
        (y,) = await harness.broker.lease(["a"], worker_id=W, limit=5, ttl=30)
        assert y.id == a[3].id

    async def test_bounded_batches(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(queue="big") for _ in range(7)])
        sizes = [len(await harness.broker.cancel_many("big", None, 3)) for _ in range(4)]
        assert sizes == [3, 3, 1, 0]
        await _nothing_leased(harness, ["big"])


class TestStaleRedis:
    async def test_redis_step_failing_still_never_leases(
            self, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
        """PostgreSQL commits the cancel first; should Redis not hear of it (one failed call),
        the proposal it still holds is dropped, never run."""
        index = getattr(harness.broker, "index", None)
        if index is None:
            pytest.skip("no Redis in this driver")
        from quorra.core.errors import DispatchUnavailable

        async def down(*args: object, **kwargs: object) -> None:
            raise DispatchUnavailable("Redis is unavailable: test")

        (done,) = await harness.broker.enqueue([spec()])
        monkeypatch.setattr(index, "cancel", down)
        await harness.broker.cancel(done.id)
        monkeypatch.undo()
        await _nothing_leased(harness, ["default"])
        assert (await harness.archive.get(done.id)).status is JobStatus.CANCELLED
