"""Hand-off (``quorra/broker/handoff.py``): a ready job enqueued while an offer waits for its
queue is leased to that offer in the insert itself, by the drivers whose leases are PostgreSQL
leases; the stream-lease driver, whose leases live in Redis, leaves every offer unclaimed. Either
way each job is leased once, and nothing jumps a job that would be leased first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import msgspec
import pytest

from quorra.broker.handoff import Lessees, Offer
from quorra.core.jobs import Job, JobStatus
from tests.contract.conftest import Harness, spec

W = "worker-handoff"


@pytest.fixture
def lessees(harness: Harness) -> Lessees:
    registry = Lessees()
    harness.broker.hand_off(registry)
    return registry


def hands_off(harness: Harness) -> bool:
    return not getattr(harness.broker, "leases_in_redis", False)


def post(lessees: Lessees, limit: int = 10, queues: tuple[str, ...] = ("default",)) -> Offer:
    offer = Offer(queues, worker_id=W, limit=limit, ttl=30)
    lessees.post(offer)
    return offer


async def leased_now(h: Harness, limit: int = 50) -> list[Job]:
    return await h.broker.lease(["default", "other"], worker_id="w2", limit=limit, ttl=30)


class TestHandOff:
    async def test_ready_jobs_go_to_the_waiting_offer_up_to_its_limit(
            self, harness: Harness, lessees: Lessees) -> None:
        offer = post(lessees, limit=2)
        done = await harness.broker.enqueue([spec("a"), spec("b"), spec("c")])
        if not hands_off(harness):
            assert not offer.claimed and lessees.waiting("default")
            assert {j.type for j in await leased_now(harness)} == {"a", "b", "c"}
            return
        handed = offer.jobs.result()
        assert [j.type for j in handed] == ["a", "b"]
        assert [d.status for d in done] == [JobStatus.LEASED, JobStatus.LEASED, JobStatus.PENDING]
        for job in handed:
            assert (job.status, job.attempts, job.leased_by, job.payload) == (
                JobStatus.LEASED, 1, W, {})
            assert job.lease_id is not None and job.lease_expires_at is not None
            assert 25 < (job.lease_expires_at - datetime.now(UTC)).total_seconds() <= 30
        assert [j.type for j in await leased_now(harness)] == ["c"]  # and nothing twice
        for job in handed:
            assert job.lease_id is not None
            settled = await harness.broker.ack(job.id, job.lease_id, {"ok": 1})
            assert settled.status is JobStatus.SUCCEEDED
        assert await leased_now(harness) == []

    async def test_two_offers_share_a_batch_oldest_first(
            self, harness: Harness, lessees: Lessees) -> None:
        first, second = post(lessees, limit=2), post(lessees, limit=2)
        await harness.broker.enqueue([spec(str(i)) for i in range(5)])
        if not hands_off(harness):
            assert len(await leased_now(harness)) == 5
            return
        assert [j.type for j in first.jobs.result()] == ["0", "1"]
        assert [j.type for j in second.jobs.result()] == ["2", "3"]
        assert [j.type for j in await leased_now(harness)] == ["4"]

    async def test_delayed_unique_and_other_queues_jobs_are_not_handed_off(
            self, harness: Harness, lessees: Lessees) -> None:
        offer = post(lessees)
        await harness.broker.enqueue([spec("later", delay_seconds=3600)])
        await harness.broker.enqueue([spec("once", unique_key="k")])
        await harness.broker.enqueue([spec("elsewhere", queue="other")])
        assert not offer.claimed and lessees.waiting("default")
        assert {j.type for j in await leased_now(harness)} == {"once", "elsewhere"}

    async def test_a_ready_job_that_comes_first_is_not_jumped(
            self, harness: Harness, lessees: Lessees) -> None:
        await harness.broker.enqueue([spec("older", priority=5)])  # nobody waits: pending
        offer = post(lessees)
        (same,) = await harness.broker.enqueue([spec("same", priority=5)])
        assert same.status is JobStatus.PENDING
        if hands_off(harness):
            assert offer.jobs.result() == []  # answered with nothing: it leases as usual
        urgent_offer = post(lessees)
        (urgent,) = await harness.broker.enqueue([spec("urgent", priority=9)])
        if hands_off(harness):
            assert urgent.status is JobStatus.LEASED
            assert [j.type for j in urgent_offer.jobs.result()] == ["urgent"]
            assert [j.type for j in await leased_now(harness)] == ["older", "same"]
        else:
            assert [j.type for j in await leased_now(harness)] == ["urgent", "older", "same"]

    async def test_paused_queue_is_not_handed_off(
            self, harness: Harness, lessees: Lessees) -> None:
        await harness.broker.enqueue([spec("later", delay_seconds=3600)])
        await harness.broker.set_paused("default", True)
        offer = post(lessees)
        (done,) = await harness.broker.enqueue([spec("held")])
        assert done.status is JobStatus.PENDING
        if hands_off(harness):
            assert offer.jobs.result() == []
        assert await leased_now(harness) == []
        await harness.broker.set_paused("default", False)
        assert [j.type for j in await leased_now(harness)] == ["held"]

    async def test_an_offer_withdrawn_before_its_answer_gets_nothing_and_loses_nothing(
            self, harness: Harness, lessees: Lessees, monkeypatch: pytest.MonkeyPatch) -> None:
        deliver = lessees.deliver

        def withdrawn_first(offer: Offer, jobs: list[Job]) -> bool:
            lessees.withdraw(offer)  # its stream stopped while the insert was in flight
            return deliver(offer, jobs)

        monkeypatch.setattr(lessees, "deliver", withdrawn_first)
        offer = post(lessees)
        (done,) = await harness.broker.enqueue([spec("orphan")])
        assert not offer.jobs.done()
        stored = await harness.archive.get(done.id)
        assert (stored.status, stored.attempts, stored.lease_id) == (JobStatus.PENDING, 0, None)
        (job,) = await leased_now(harness)
        assert (job.id, job.attempts) == (done.id, 1)

    async def test_a_failed_insert_answers_its_offers(
            self, harness: Harness, lessees: Lessees) -> None:
        offer = post(lessees)
        bad = msgspec.structs.replace(spec("bad"), type="x" * 300)  # over the column's CHECK
        with pytest.raises(Exception):  # noqa: B017,PT011  (the driver's error for a bad row)
            await harness.broker.enqueue([bad])
        if hands_off(harness):
            assert await asyncio.wait_for(offer.jobs, 1) == []
        assert await leased_now(harness) == []
