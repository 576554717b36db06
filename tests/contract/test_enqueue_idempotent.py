"""Broker contract: an enqueue carrying an id already stored stores nothing new and answers the
stored job (a producer's retry after a lost answer). Every driver enqueues through this rule."""

from __future__ import annotations

import asyncio

from quorra.core.jobs import JobStatus
from quorra.core.spec import EnqueueRequest, Limits, to_spec
from tests.contract.conftest import Harness, spec


async def count(h: Harness, queue: str) -> int:
    counts = await h.archive.queue_counts()
    return sum(c.count for c in counts if c.queue == queue)


async def test_same_spec_twice_is_one_job(harness: Harness) -> None:
    s = spec("email", queue="idem", payload={"to": "a"})
    (first,) = await harness.broker.enqueue([s])
    (again,) = await harness.broker.enqueue([s])
    assert again.id == first.id == s.id
    assert (again.status, again.run_at) == (first.status, first.run_at)
    assert first.created and not again.created
    assert await count(harness, "idem") == 1


async def test_retried_batch_stores_only_the_missing(harness: Harness) -> None:
    specs = [spec(f"t{i}", queue="idem") for i in range(6)]
    await harness.broker.enqueue(specs[:3])
    done = await harness.broker.enqueue(specs)
    assert [d.id for d in done] == [s.id for s in specs]
    assert [d.created for d in done] == [False] * 3 + [True] * 3
    assert await count(harness, "idem") == 6


async def test_duplicate_answers_the_stored_job(harness: Harness) -> None:
    s = spec("t", queue="idem")
    await harness.broker.enqueue([s])
    jobs = await harness.broker.lease(["idem"], worker_id="w", limit=1, ttl=30)
    assert [j.id for j in jobs] == [s.id]
    (again,) = await harness.broker.enqueue([s])
    assert again.status is JobStatus.LEASED
    assert await harness.broker.lease(["idem"], worker_id="w", limit=1, ttl=30) == []


async def test_concurrent_duplicates_make_one_job(harness: Harness) -> None:
    s = to_spec(EnqueueRequest(type="t", queue="idem"), Limits())
    done = await asyncio.gather(*(harness.broker.enqueue([s]) for _ in range(8)))
    assert {d.id for (d,) in done} == {s.id}
    assert await count(harness, "idem") == 1


async def test_same_id_twice_in_one_batch(harness: Harness) -> None:
    s = spec("t", queue="idem")
    done = await harness.broker.enqueue([s, s])
    assert [(d.id, d.created) for d in done] == [(s.id, True), (s.id, False)]
    assert await count(harness, "idem") == 1
