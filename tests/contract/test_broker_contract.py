"""The broker contract: every driver passes this same suite (see ``conftest.HARNESSES``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from quorra.core.errors import JobNotFound, LeaseLost
from quorra.core.jobs import Job, JobStatus
from tests.contract.conftest import WAKE_BOUND, Harness, spec

W = "worker-test"


async def lease_one(h: Harness, queue: str = "default", ttl: float = 30) -> Job:
    jobs = await h.broker.lease([queue], worker_id=W, limit=1, ttl=ttl)
    assert len(jobs) == 1, f"expected one job to lease, got {len(jobs)}"
    return jobs[0]


async def waiting(h: Harness, queues: list[str]) -> asyncio.Task[None]:
    """A lessee waiting for jobs, registered and still waiting (the harness polls far later
    than ``WAKE_BOUND``, so only a wake-up ends its wait in time). Spurious wake-ups are
    allowed (e.g. the one a LISTEN connection gives when it is (re)established): wait again."""
    for _ in range(50):
        task = asyncio.create_task(h.broker.wait_for_jobs(queues, 3600))
        await asyncio.sleep(0.05)  # registered, and past any first look at the queues
        if not task.done():
            return task
    pytest.fail("the lessee must wait while there is nothing to lease")


async def woken_in_time(task: asyncio.Task[None]) -> None:
    try:
        await asyncio.wait_for(task, WAKE_BOUND)
    except TimeoutError:
        pytest.fail(f"the waiting lessee was not woken within {WAKE_BOUND} s")


class TestEnqueue:
    async def test_enqueue_stores_pending_job(self, harness: Harness) -> None:
        s = spec("email", payload={"to": "a@b.c"}, priority=5, max_retries=2)
        (done,) = await harness.broker.enqueue([s])
        assert done.id == s.id
        assert done.status is JobStatus.PENDING
        job = await harness.archive.get(s.id)
        assert (job.type, job.payload, job.priority, job.max_retries, job.attempts) == (
            "email", {"to": "a@b.c"}, 5, 2, 0)
        assert job.status is JobStatus.PENDING
        assert job.run_at <= datetime.now(UTC)

    async def test_batch_keeps_order(self, harness: Harness) -> None:
        specs = [spec(f"t{i}") for i in range(50)]
        done = await harness.broker.enqueue(specs)
        assert [d.id for d in done] == [s.id for s in specs]

    async def test_concurrent_enqueues_all_commit(self, harness: Harness) -> None:
        specs = [spec(f"c{i}") for i in range(300)]
        done = await asyncio.gather(*(harness.broker.enqueue([s]) for s in specs))
        assert [d[0].id for d in done] == [s.id for s in specs]
        counts = {c.status: c.count for c in await harness.archive.queue_counts()}
        assert counts == {JobStatus.PENDING: 300}

    async def test_enqueue_wakes_a_waiting_lessee_faster_than_the_poll(
        self, harness: Harness
    ) -> None:
        woken = await waiting(harness, ["default", "other"])
        (done,) = await harness.broker.enqueue([spec(queue="other")])
        await woken_in_time(woken)
        assert [j.id for j in await harness.broker.lease(
            ["other"], worker_id=W, limit=1, ttl=30)] == [done.id]

    async def test_get_unknown_job(self, harness: Harness) -> None:
        with pytest.raises(JobNotFound):
            await harness.archive.get(uuid.uuid4())


class TestLease:
    async def test_lease_sets_lease_fields_and_counts_attempt(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec()])
        job = await lease_one(harness, ttl=30)
        assert job.id == done.id
        assert job.status is JobStatus.LEASED
        assert job.attempts == 1
        assert job.lease_id is not None and job.leased_by == W
        assert job.lease_expires_at is not None
        remaining = (job.lease_expires_at - datetime.now(UTC)).total_seconds()
        assert 25 < remaining <= 31
        assert await harness.broker.lease(["default"], worker_id=W, limit=5, ttl=30) == []

    async def test_each_job_gets_its_own_lease_id(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec() for _ in range(5)])
        jobs = await harness.broker.lease(["default"], worker_id=W, limit=10, ttl=30)
        assert len(jobs) == 5
        assert len({j.lease_id for j in jobs}) == 5

    async def test_strict_priority_then_oldest(self, harness: Harness) -> None:
        priorities = [0, 10, -5, 10, 1_000_000, 3, -1_000_000, 0]
        specs = [spec(f"p{i}", priority=p) for i, p in enumerate(priorities)]
        for s in specs:  # one by one, so creation order is clear
            await harness.broker.enqueue([s])
        leased: list[Job] = []
        for _ in range(len(specs)):
            leased.extend(await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30))
        expected = sorted(specs, key=lambda s: -s.priority)  # stable: equal ones oldest first
        assert [j.id for j in leased] == [s.id for s in expected]

    async def test_batch_lease_is_priority_ordered(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(priority=p) for p in (1, 7, 3, 9, 5)])
        jobs = await harness.broker.lease(["default"], worker_id=W, limit=3, ttl=30)
        assert [j.priority for j in jobs] == [9, 7, 5]

    async def test_lease_from_several_queues_only(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(queue="a"), spec(queue="b"), spec(queue="c")])
        jobs = await harness.broker.lease(["a", "c"], worker_id=W, limit=10, ttl=30)
        assert sorted(j.queue for j in jobs) == ["a", "c"]

    async def test_delayed_job_is_not_leased_early(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec(delay_seconds=3600)])
        assert done.run_at > datetime.now(UTC) + timedelta(seconds=3500)
        assert await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30) == []
        await harness.make_due(done.id)
        assert (await lease_one(harness)).id == done.id

    async def test_run_at_in_future_is_honoured(self, harness: Harness) -> None:
        when = datetime.now(UTC) + timedelta(hours=2)
        (done,) = await harness.broker.enqueue([spec(run_at=when)])
        assert abs((done.run_at - when).total_seconds()) < 0.001
        assert await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30) == []

    async def test_short_delay_becomes_leasable(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec(delay_seconds=0.3)])
        assert await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30) == []
        deadline = asyncio.get_running_loop().time() + 5
        jobs: list[Job] = []
        while not jobs and asyncio.get_running_loop().time() < deadline:
            await harness.broker.wait_for_jobs(["default"], 0.1)
            jobs = await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30)
        assert [j.id for j in jobs] == [done.id]

    async def test_concurrent_lessees_never_double_lease(self, harness: Harness) -> None:
        total = 2000
        specs = [spec(f"j{i}", priority=i % 7) for i in range(total)]
        for start in range(0, total, 500):
            await harness.broker.enqueue(specs[start : start + 500])
        seen: list[uuid.UUID] = []

        async def lessee(n: int) -> None:
            for _ in range(total):  # bounded: each round leases at least one job or stops
                jobs = await harness.broker.lease(["default"], worker_id=f"w{n}", limit=10,
                                                  ttl=60)
                if not jobs:
                    return
                for job in jobs:
                    seen.append(job.id)
                    assert job.lease_id is not None
                    await harness.broker.ack(job.id, job.lease_id)

        await asyncio.gather(*(lessee(n) for n in range(8)))
        assert len(seen) == total, "every job leased exactly once"
        assert set(seen) == {s.id for s in specs}
        counts = {c.status: c.count for c in await harness.archive.queue_counts()}
        assert counts == {JobStatus.SUCCEEDED: total}


class TestSettle:
    async def test_ack_succeeds_with_result(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec()])
        job = await lease_one(harness)
        assert job.lease_id is not None
        settled = await harness.broker.ack(job.id, job.lease_id, {"sent": True})
        assert (settled.status, settled.queue) == (JobStatus.SUCCEEDED, "default")
        stored = await harness.archive.get(job.id)
        assert stored.status is JobStatus.SUCCEEDED
        assert stored.result == {"sent": True}
        assert stored.lease_id is None and stored.finished_at is not None
        assert stored.attempts == 1

    async def test_ack_many_settles_live_leases_and_skips_stale(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(f"m{i}") for i in range(3)])
        jobs = await harness.broker.lease(["default"], worker_id=W, limit=3, ttl=30)
        a, b, c = jobs
        assert a.lease_id and b.lease_id and c.lease_id
        await harness.broker.ack(c.id, c.lease_id)
        done = await harness.broker.ack_many([
            (a.id, a.lease_id, {"n": 1}), (b.id, b.lease_id, None), (c.id, c.lease_id, "late"),
            (a.id, uuid.uuid4(), None)])
        assert sorted(s.id for s in done) == sorted([a.id, b.id])
        assert {s.status for s in done} == {JobStatus.SUCCEEDED}
        assert (await harness.archive.get(a.id)).result == {"n": 1}
        assert (await harness.archive.get(c.id)).result is None
        assert await harness.broker.ack_many([]) == []

    async def test_nack_backs_off_then_retries_then_dies(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec(max_retries=2)])
        for attempt in (1, 2):
            job = await lease_one(harness)
            assert job.attempts == attempt and job.lease_id is not None
            settled = await harness.broker.nack(job.id, job.lease_id, f"boom {attempt}")
            assert settled.status is JobStatus.PENDING
            stored = await harness.archive.get(done.id)
            wait = (stored.run_at - datetime.now(UTC)).total_seconds()
            backoff = min(2**attempt, 3600)  # README "Guarantees", Retries
            assert backoff - 1 < wait <= backoff
            assert stored.last_error == f"boom {attempt}"
            assert await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30) == []
            await harness.make_due(done.id)
        job = await lease_one(harness)
        assert job.attempts == 3 and job.lease_id is not None
        settled = await harness.broker.nack(job.id, job.lease_id, "final")
        assert settled.status is JobStatus.DEAD
        stored = await harness.archive.get(done.id)
        assert (stored.status, stored.last_error, stored.attempts) == (JobStatus.DEAD, "final", 3)
        await harness.make_due(done.id)
        assert await harness.broker.lease(["default"], worker_id=W, limit=1, ttl=30) == []

    async def test_zero_retries_means_one_run(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(max_retries=0)])
        job = await lease_one(harness)
        assert job.lease_id is not None
        assert (await harness.broker.nack(job.id, job.lease_id, "x")).status is JobStatus.DEAD

    async def test_nack_without_retry_goes_dead(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(max_retries=5)])
        job = await lease_one(harness)
        assert job.lease_id is not None
        settled = await harness.broker.nack(job.id, job.lease_id, "bad input", retry=False)
        assert settled.status is JobStatus.DEAD

    async def test_extend_pushes_deadline(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec()])
        job = await lease_one(harness, ttl=5)
        assert job.lease_id is not None and job.lease_expires_at is not None
        deadline = await harness.broker.extend(job.id, job.lease_id, 120)
        assert deadline > job.lease_expires_at + timedelta(seconds=100)
        assert (await harness.archive.get(job.id)).lease_expires_at == deadline

    async def test_stale_settlements_are_rejected_and_change_nothing(
        self, harness: Harness
    ) -> None:
        await harness.broker.enqueue([spec()])
        job = await lease_one(harness)
        assert job.lease_id is not None
        wrong = uuid.uuid4()
        with pytest.raises(LeaseLost):
            await harness.broker.ack(job.id, wrong)
        with pytest.raises(LeaseLost):
            await harness.broker.nack(job.id, wrong, "x")
        with pytest.raises(LeaseLost):
            await harness.broker.extend(job.id, wrong, 30)
        before = await harness.archive.get(job.id)
        assert before.status is JobStatus.LEASED and before.lease_id == job.lease_id
        await harness.broker.ack(job.id, job.lease_id)
        for settle in (
            harness.broker.ack(job.id, job.lease_id),
            harness.broker.nack(job.id, job.lease_id, "late"),
            harness.broker.extend(job.id, job.lease_id, 30),
        ):
            with pytest.raises(LeaseLost):
                await settle
        after = await harness.archive.get(job.id)
        assert after.status is JobStatus.SUCCEEDED and after.last_error is None

    async def test_settling_unknown_job_is_not_found(self, harness: Harness) -> None:
        with pytest.raises(JobNotFound):
            await harness.broker.ack(uuid.uuid4(), uuid.uuid4())

    async def test_expired_lease_rejects_ack(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec()])
        job = await lease_one(harness)
        assert job.lease_id is not None
        await harness.expire_lease(job.id)
        with pytest.raises(LeaseLost):
            await harness.broker.ack(job.id, job.lease_id)


class TestConcurrentAcks:
    """Acks that arrive together (drivers may settle them in one statement) keep the per-ack
    rules: each settles its own job once, a wrong lease or an unknown job fails alone."""

    async def test_many_acks_at_once_all_settle(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec(f"a{i}") for i in range(200)])
        jobs = await harness.broker.lease(["default"], worker_id=W, limit=200, ttl=30)
        assert len(jobs) == 200
        settled = await asyncio.gather(*(
            harness.broker.ack(j.id, j.lease_id, {"i": i})  # type: ignore[arg-type]
            for i, j in enumerate(jobs)))
        assert [s.id for s in settled] == [j.id for j in jobs]
        assert {s.status for s in settled} == {JobStatus.SUCCEEDED}
        counts = {c.status: c.count for c in await harness.archive.queue_counts()}
        assert counts == {JobStatus.SUCCEEDED: 200}
        stored = await harness.archive.get(jobs[7].id)
        assert stored.result == {"i": 7}

    async def test_bad_acks_fail_alone_among_good_ones(
        self, harness: Harness, request: pytest.FixtureRequest
    ) -> None:
        await harness.broker.enqueue([spec(f"b{i}") for i in range(3)])
        a, b, c = await harness.broker.lease(["default"], worker_id=W, limit=3, ttl=30)
        assert a.lease_id and b.lease_id and c.lease_id
        results = await asyncio.gather(
            harness.broker.ack(a.id, a.lease_id),
            harness.broker.ack(b.id, uuid.uuid4()),  # wrong lease
            harness.broker.ack(uuid.uuid4(), uuid.uuid4()),  # unknown job
            harness.broker.ack(c.id, uuid.uuid4()),  # wrong lease, then the right one
            harness.broker.ack(c.id, c.lease_id),
            harness.broker.ack(a.id, a.lease_id),  # the same ack again: settles once
            return_exceptions=True)
        # the two acks of a raced: one settled it; the other found the lease gone or (a driver
        # that merges identical acks of one batch) got the same outcome; the job settled once
        outcomes = [results[0], results[5]]
        assert any(getattr(o, "status", None) is JobStatus.SUCCEEDED for o in outcomes)
        assert all(isinstance(o, LeaseLost) or getattr(o, "status", None) is JobStatus.SUCCEEDED
                   for o in outcomes)
        assert (await harness.archive.get(a.id)).attempts == 1
        assert isinstance(results[1], LeaseLost)
        assert isinstance(results[2], JobNotFound)
        assert isinstance(results[3], LeaseLost)
        assert getattr(results[4], "status", None) is JobStatus.SUCCEEDED
        assert (await harness.archive.get(b.id)).status is JobStatus.LEASED
        assert (await harness.archive.get(c.id)).status is JobStatus.SUCCEEDED


class TestRelease:
    async def test_release_gives_jobs_back_unrun_and_wakes_lessees(
        self, harness: Harness
    ) -> None:
        await harness.broker.enqueue([spec("a"), spec("b")])
        jobs = await harness.broker.lease(["default"], worker_id=W, limit=2, ttl=30)
        assert len(jobs) == 2
        woken = await waiting(harness, ["default"])
        pairs = [(job.id, job.lease_id) for job in jobs if job.lease_id is not None]
        released = await harness.broker.release([*pairs, (jobs[0].id, uuid.uuid4())])
        assert sorted(released) == sorted(job.id for job in jobs)
        await woken_in_time(woken)
        for job in jobs:
            stored = await harness.archive.get(job.id)
            assert (stored.status, stored.attempts, stored.lease_id) == (
                JobStatus.PENDING, 0, None)
        again = await harness.broker.lease(["default"], worker_id=W, limit=2, ttl=30)
        assert {job.attempts for job in again} == {1} and len(again) == 2

    async def test_stale_release_changes_nothing(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec()])
        job = await lease_one(harness)
        assert job.lease_id is not None
        await harness.broker.ack(job.id, job.lease_id)
        assert await harness.broker.release([(job.id, job.lease_id)]) == []
        assert await harness.broker.release([]) == []
        assert (await harness.archive.get(job.id)).status is JobStatus.SUCCEEDED


class TestReap:
    async def test_expired_lease_is_reaped_as_failed_attempt(self, harness: Harness) -> None:
        (done,) = await harness.broker.enqueue([spec(max_retries=1)])
        job = await lease_one(harness)
        assert job.lease_id is not None
        assert await harness.broker.reap_expired() == []
        await harness.expire_lease(job.id)
        reaped = await harness.broker.reap_expired()
        assert [(r.id, r.status) for r in reaped] == [(done.id, JobStatus.PENDING)]
        stored = await harness.archive.get(done.id)
        assert (stored.status, stored.last_error, stored.attempts) == (
            JobStatus.PENDING, "lease expired", 1)
        with pytest.raises(LeaseLost):
            await harness.broker.ack(job.id, job.lease_id)
        await harness.make_due(done.id)
        second = await lease_one(harness)
        assert second.attempts == 2 and second.lease_id != job.lease_id
        await harness.expire_lease(done.id)
        reaped = await harness.broker.reap_expired()
        assert [(r.id, r.status) for r in reaped] == [(done.id, JobStatus.DEAD)]

    async def test_concurrent_reapers_split_the_work(self, harness: Harness) -> None:
        await harness.broker.enqueue([spec() for _ in range(40)])
        jobs = await harness.broker.lease(["default"], worker_id=W, limit=40, ttl=30)
        for job in jobs:
            await harness.expire_lease(job.id)
        results = await asyncio.gather(*(harness.broker.reap_expired() for _ in range(4)))
        reaped = [r.id for batch in results for r in batch]
        assert sorted(reaped) == sorted(j.id for j in jobs)
