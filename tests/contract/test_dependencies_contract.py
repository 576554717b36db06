"""Broker contract: job dependencies. A job listing ``depends_on`` is ``blocked`` (never
leased) until every parent succeeded, then leasable at once (no poll: every broker here polls
once a minute); a parent ending dead or cancelled cancels its blocked dependents, and theirs.
Bad graphs are ``InvalidInput`` and store nothing. A job awaited by a higher-priority job is
leased with that priority."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import psycopg
import pytest

from quorra.core.errors import InvalidInput
from quorra.core.ids import new_job_id
from quorra.core.jobs import Job, JobStatus
from quorra.core.spec import EnqueueRequest, Limits, specs_from_requests
from tests.contract.conftest import WAKE_BOUND, Harness, spec


async def lease_n(h: Harness, queue: str, n: int, *, bound: float = WAKE_BOUND) -> list[Job]:
    """Lease until ``n`` jobs came (waiting on wake-ups in between), within ``bound``."""
    jobs: list[Job] = []
    deadline = time.monotonic() + bound
    for _ in range(10_000):
        jobs += await h.broker.lease([queue], worker_id="w", limit=n - len(jobs), ttl=60)
        left = deadline - time.monotonic()
        if len(jobs) >= n or left <= 0:
            break
        await h.broker.wait_for_jobs([queue], min(left, 0.2))
    return jobs


async def ack_all(h: Harness, jobs: Sequence[Job]) -> None:
    settled = await h.broker.ack_many([(j.id, j.lease_id, None) for j in jobs
                                       if j.lease_id is not None])
    assert len(settled) == len(jobs)


async def status_of(h: Harness, job_id: uuid.UUID) -> JobStatus:
    return (await h.archive.get(job_id)).status


async def test_diamond_runs_in_dependency_order(harness: Harness) -> None:
    a, b, c, d = (new_job_id() for _ in range(4))
    done = await harness.broker.enqueue([
        spec("d", id=d, queue="dia", depends_on=[b, c]),
        spec("b", id=b, queue="dia", depends_on=[a]),
        spec("c", id=c, queue="dia", depends_on=[a]),
        spec("a", id=a, queue="dia")])
    assert [e.status for e in done] == [JobStatus.BLOCKED, JobStatus.BLOCKED,
                                        JobStatus.BLOCKED, JobStatus.PENDING]
    (first,) = await lease_n(harness, "dia", 1)
    assert first.id == a
    assert await harness.broker.lease(["dia"], worker_id="w", limit=5, ttl=60) == []
    await ack_all(harness, [first])
    middle = await lease_n(harness, "dia", 2)
    assert {j.id for j in middle} == {b, c}
    await ack_all(harness, middle[:1])
    assert await status_of(harness, d) is JobStatus.BLOCKED
    await ack_all(harness, middle[1:])
    (last,) = await lease_n(harness, "dia", 1)
    assert last.id == d
    shown = await harness.archive.get(a)
    assert shown.dependents is not None and sorted(shown.dependents) == sorted([b, c])
    shown = await harness.archive.get(d)
    assert shown.depends_on == [b, c]


async def test_failed_parent_cancels_its_descendants(harness: Harness) -> None:
    a, b, c = (new_job_id() for _ in range(3))
    await harness.broker.enqueue([spec("a", id=a, queue="cas", max_retries=0),
                                  spec("b", id=b, queue="cas", depends_on=[a]),
                                  spec("c", id=c, queue="cas", depends_on=[b])])
    (job,) = await lease_n(harness, "cas", 1)
    assert job.lease_id is not None
    settled = await harness.broker.nack(job.id, job.lease_id, "boom")
    assert settled.status is JobStatus.DEAD
    b_job, c_job = await harness.archive.get(b), await harness.archive.get(c)
    assert (b_job.status, c_job.status) == (JobStatus.CANCELLED, JobStatus.CANCELLED)
    assert b_job.last_error == f"dependency {a} ended dead"
    assert c_job.last_error == f"dependency {b} was cancelled"
    assert b_job.finished_at is not None


async def test_cancelling_a_parent_or_a_blocked_job(harness: Harness) -> None:
    a, b, c = (new_job_id() for _ in range(3))
    await harness.broker.enqueue([spec("a", id=a, queue="can"),
                                  spec("b", id=b, queue="can", depends_on=[a]),
                                  spec("c", id=c, queue="can", depends_on=[a])])
    cancelled = await harness.broker.cancel(c)  # a blocked job may be cancelled
    assert cancelled.changed
    await harness.broker.cancel(a)
    b_job = await harness.archive.get(b)
    assert b_job.status is JobStatus.CANCELLED
    assert b_job.last_error == f"dependency {a} was cancelled"
    assert await harness.broker.lease(["can"], worker_id="w", limit=5, ttl=60) == []


async def test_parents_already_finished(harness: Harness) -> None:
    (ok,) = await harness.broker.enqueue([spec("ok", queue="fin")])
    (job,) = await lease_n(harness, "fin", 1)
    await ack_all(harness, [job])
    (gone,) = await harness.broker.enqueue([spec("gone", queue="fin2")])
    await harness.broker.cancel(gone.id)
    ready, doomed = await harness.broker.enqueue([
        spec("r", queue="fin", depends_on=[ok.id]),
        spec("x", queue="fin", depends_on=[ok.id, gone.id])])
    assert ready.status is JobStatus.PENDING
    assert doomed.status is JobStatus.CANCELLED
    assert (await harness.archive.get(doomed.id)).last_error == \
        f"dependency {gone.id} was cancelled"
    (leased,) = await lease_n(harness, "fin", 1)
    assert leased.id == ready.id


async def test_unknown_parent_stores_nothing(harness: Harness, clean_db: str) -> None:
    (parent,) = await harness.broker.enqueue([spec("p", queue="unk")])
    with pytest.raises(InvalidInput) as caught:
        await harness.broker.enqueue([spec("ok", queue="unk", depends_on=[parent.id]),
                                      spec("bad", queue="unk", depends_on=[uuid.uuid4()])])
    assert caught.value.field == "depends_on"
    async with await psycopg.AsyncConnection.connect(clean_db) as conn:
        cur = await conn.execute("SELECT count(*), bool_or(has_dependents) FROM quorra_jobs")
        assert await cur.fetchone() == (1, False)
        cur = await conn.execute("SELECT count(*) FROM quorra_job_deps")
        assert await cur.fetchone() == (0,)


def test_bad_graphs_name_the_field() -> None:
    a, b = new_job_id(), new_job_id()
    limits = Limits()
    cases = {
        "jobs[1].depends_on": [EnqueueRequest(type="a", id=a, depends_on=[b]),
                               EnqueueRequest(type="b", id=b, depends_on=[a])],
        "jobs[0].depends_on": [EnqueueRequest(type="a", id=a, depends_on=[a])],
    }
    for field, reqs in cases.items():
        with pytest.raises(InvalidInput) as caught:
            specs_from_requests(reqs, limits)
        assert caught.value.field in (field, "jobs[0].depends_on")
    with pytest.raises(InvalidInput) as caught:
        specs_from_requests([EnqueueRequest(type="a", depends_on=[b, b])], limits)
    assert caught.value.field == "jobs[0].depends_on"
    assert "depends_on" in EnqueueRequest.__struct_fields__  # every item of a BatchRequest


async def test_priority_is_inherited(harness: Harness) -> None:
    (low,) = await harness.broker.enqueue([spec("low", queue="inh", priority=0)])
    (mid,) = await harness.broker.enqueue([spec("mid", queue="inh", priority=5)])
    (child,) = await harness.broker.enqueue([spec("hi", queue="inh", priority=10,
                                                  depends_on=[low.id])])
    assert child.status is JobStatus.BLOCKED
    assert (await harness.archive.get(low.id)).priority == 10
    (first,) = await lease_n(harness, "inh", 1)
    assert first.id == low.id and first.priority == 10
    await ack_all(harness, [first])
    (second,) = await lease_n(harness, "inh", 1)
    assert second.id == child.id
    assert (await harness.archive.get(mid.id)).status is JobStatus.PENDING


async def test_fan_out_fan_in(harness: Harness) -> None:
    """One root, 1,000 jobs after it, 10 joins of 100 each, one sink after the joins."""
    root = new_job_id()
    leaves = [new_job_id() for _ in range(1000)]
    joins = [new_job_id() for _ in range(10)]
    sink = new_job_id()
    specs = [spec("root", id=root, queue="fan")]
    specs += [spec("leaf", id=leaf, queue="fan", depends_on=[root]) for leaf in leaves]
    specs += [spec("join", id=join, queue="fan", depends_on=leaves[i * 100:(i + 1) * 100])
              for i, join in enumerate(joins)]
    specs.append(spec("sink", id=sink, queue="fan", depends_on=joins))
    await harness.broker.enqueue(specs)
    for wave in ([root], leaves, joins, [sink]):
        got: list[Job] = []
        for _ in range(len(wave)):  # bounded: each round leases at least one job or fails
            if len(got) == len(wave):
                break
            batch = await lease_n(harness, "fan", min(500, len(wave) - len(got)),
                                  bound=WAKE_BOUND * 2)
            assert batch, f"{len(got)} of {len(wave)} leased"
            await ack_all(harness, batch)
            got += batch
        assert sorted(j.id for j in got) == sorted(wave)


async def test_a_parent_locked_by_an_enqueue_stays_leasable(harness: Harness,
                                                            clean_db: str) -> None:
    """An enqueue of dependents locks their parents until it commits; a lease meanwhile skips
    a locked parent, which must be leasable again at once after (not after a repair sweep)."""
    (parent,) = await harness.broker.enqueue([spec("p", queue="lk")])
    async with await psycopg.AsyncConnection.connect(clean_db) as conn:
        await conn.execute("SELECT 1 FROM quorra_jobs WHERE id = %s FOR NO KEY UPDATE",
                           (parent.id,))
        jobs = await harness.broker.lease(["lk"], worker_id="w", limit=1, ttl=60)
        await conn.rollback()  # the lease above may have skipped it (stream leases do not)
    jobs = jobs or await lease_n(harness, "lk", 1)
    assert [j.id for j in jobs] == [parent.id]


async def test_a_proposal_refused_on_purpose_is_not_proposed_again(harness: Harness,
                                                                   clean_db: str) -> None:
    """Only a proposal skipped for a lock comes back at once: one the grant refuses (a paused
    queue whose pause Redis has not heard of) is dropped, not popped and refused in a loop."""
    if getattr(harness.broker, "leases_in_redis", False):
        pytest.skip("stream leases follow Redis's pause mirror; no grant to refuse")
    await harness.broker.enqueue([spec("p", queue="pz")])
    async with await psycopg.AsyncConnection.connect(clean_db, autocommit=True) as conn:
        await conn.execute("INSERT INTO quorra_queues (queue, paused) VALUES ('pz', true)")
    for _ in range(3):
        assert await harness.broker.lease(["pz"], worker_id="w", limit=1, ttl=60) == []
    supervisor = getattr(harness.broker, "supervisor", None)
    if supervisor is not None and harness.broker.mode == "redis":  # type: ignore[attr-defined]
        assert supervisor.stale_discarded == 1
