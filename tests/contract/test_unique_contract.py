"""Broker contract: unique jobs. An enqueue whose ``unique_key`` is held in its queue stores
nothing and answers the job holding it (``duplicate``); the key is held for a window after the
enqueue or, without one, until the job finishes or is deleted. Race-free: concurrent producers
of one key make one job."""

from __future__ import annotations

import asyncio
import uuid

import psycopg

from quorra.core.jobs import JobStatus
from tests.contract.conftest import Harness, spec


async def jobs_in(url: str, queue: str) -> list[uuid.UUID]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT id FROM quorra_jobs WHERE queue = %s ORDER BY id",
                                 (queue,))
        return [row[0] for row in await cur.fetchall()]


async def expire_window(url: str, queue: str, key: str) -> None:
    """Time travel: the key's window ended a second ago."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("UPDATE quorra_unique_keys SET expires_at = now() - interval '1 s' "
                           "WHERE queue = %s AND unique_key = %s", (queue, key))


async def lease_one(h: Harness, queue: str) -> tuple[uuid.UUID, uuid.UUID]:
    (job,) = await h.broker.lease([queue], worker_id="w", limit=1, ttl=30)
    assert job.lease_id is not None
    return job.id, job.lease_id


async def test_duplicate_answers_the_job_holding_the_key(harness: Harness, clean_db: str) -> None:
    (first,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    (again,) = await harness.broker.enqueue([spec("other", queue="u", unique_key="k")])
    assert first.created and not first.duplicate
    assert again.duplicate and not again.created
    assert (again.id, again.status, again.run_at) == (first.id, first.status, first.run_at)
    assert await jobs_in(clean_db, "u") == [first.id]
    assert (await harness.archive.get(first.id)).unique_key == "k"


async def test_duplicate_sees_the_holder_state(harness: Harness) -> None:
    (first,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    await lease_one(harness, "u")
    (again,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert again.duplicate and again.id == first.id and again.status is JobStatus.LEASED


async def test_window_expiry_lets_a_new_job_in(harness: Harness, clean_db: str) -> None:
    (first,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k",
                                                  unique_for_seconds=3600)])
    job_id, lease = await lease_one(harness, "u")
    await harness.broker.ack(job_id, lease)
    (held,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert held.duplicate and held.id == first.id  # a window outlives the job's run
    assert held.status is JobStatus.SUCCEEDED
    await expire_window(clean_db, "u", "k")
    (fresh,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert fresh.created and not fresh.duplicate and fresh.id != first.id
    (again,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert again.duplicate and again.id == fresh.id  # the new job holds it now
    assert len(await jobs_in(clean_db, "u")) == 2


async def test_until_finished_releases_on_ack(harness: Harness) -> None:
    (first,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    job_id, lease = await lease_one(harness, "u")
    (held,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert held.duplicate and held.id == first.id
    await harness.broker.ack(job_id, lease)
    (fresh,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert fresh.created and fresh.id != first.id


async def test_until_finished_releases_on_dead(harness: Harness) -> None:
    (first,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    job_id, lease = await lease_one(harness, "u")
    settled = await harness.broker.nack(job_id, lease, "boom", retry=False)
    assert settled.status is JobStatus.DEAD
    (fresh,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert fresh.created and fresh.id != first.id


async def test_a_failed_attempt_keeps_the_key(harness: Harness) -> None:
    (first,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    job_id, lease = await lease_one(harness, "u")
    assert (await harness.broker.nack(job_id, lease, "again")).status is JobStatus.PENDING
    (held,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert held.duplicate and held.id == first.id


async def test_until_finished_releases_on_cancel(harness: Harness) -> None:
    (waiting,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    await harness.broker.cancel(waiting.id)
    (running,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert running.created and running.id != waiting.id
    await lease_one(harness, "u")
    await harness.broker.cancel(running.id)  # a running job cancelled frees its key too
    (fresh,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert fresh.created and fresh.id not in (waiting.id, running.id)


async def test_delete_releases_any_key(harness: Harness) -> None:
    for window in (None, 3600.0):
        (first,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k",
                                                      unique_for_seconds=window)])
        await harness.broker.delete(first.id)
        (fresh,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
        assert fresh.created and fresh.id != first.id
        await harness.broker.delete(fresh.id)


async def test_retention_releases_a_window_key(harness: Harness, clean_db: str) -> None:
    (first,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k",
                                                  unique_for_seconds=3600)])
    job_id, lease = await lease_one(harness, "u")
    await harness.broker.ack(job_id, lease)
    assert await harness.broker.purge_finished(JobStatus.SUCCEEDED, 0, 100) == ["u"]
    (fresh,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert fresh.created and fresh.id != first.id
    async with await psycopg.AsyncConnection.connect(clean_db) as conn:
        cur = await conn.execute("SELECT job_id FROM quorra_unique_keys")
        assert await cur.fetchall() == [(fresh.id,)]  # no row left behind by the purged job


async def test_same_key_in_one_batch_is_one_job(harness: Harness, clean_db: str) -> None:
    specs = [spec("a", queue="u", unique_key="k"), spec("plain", queue="u"),
             spec("b", queue="u", unique_key="k"), spec("c", queue="u", unique_key="k2")]
    done = await harness.broker.enqueue(specs)
    assert [d.created for d in done] == [True, True, False, True]
    assert [d.duplicate for d in done] == [False, False, True, False]
    assert done[2].id == done[0].id == specs[0].id
    assert len(await jobs_in(clean_db, "u")) == 3


async def test_eight_concurrent_producers_make_one_job(harness: Harness, clean_db: str) -> None:
    for round_ in range(3):
        key = f"race-{round_}"
        done = await asyncio.gather(*(
            harness.broker.enqueue([spec("t", queue="u", unique_key=key)]) for _ in range(8)))
        assert len({d.id for (d,) in done}) == 1
        assert sum(d.created for (d,) in done) == 1
        assert sum(d.duplicate for (d,) in done) == 7
    assert len(await jobs_in(clean_db, "u")) == 3


async def test_queues_do_not_collide(harness: Harness) -> None:
    (a,) = await harness.broker.enqueue([spec("t", queue="ua", unique_key="k")])
    (b,) = await harness.broker.enqueue([spec("t", queue="ub", unique_key="k")])
    assert a.created and b.created and a.id != b.id


async def test_client_id_retry_is_not_a_duplicate(harness: Harness, clean_db: str) -> None:
    s = spec("t", queue="u", unique_key="k")
    (first,) = await harness.broker.enqueue([s])
    (again,) = await harness.broker.enqueue([s])
    assert again.id == first.id == s.id
    assert not again.created and not again.duplicate
    job_id, lease = await lease_one(harness, "u")
    await harness.broker.ack(job_id, lease)
    (late,) = await harness.broker.enqueue([s])  # the key is free, but this id is stored
    assert late.id == s.id and not late.created and late.status is JobStatus.SUCCEEDED
    (fresh,) = await harness.broker.enqueue([spec("t", queue="u", unique_key="k")])
    assert fresh.created  # the retry above left no claim behind
    assert len(await jobs_in(clean_db, "u")) == 2
