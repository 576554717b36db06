"""The dispatch index's lease reply on real Redis: proposals come back as (entry, job, seq) in
priority order, and a stream entry that is not one of ours is dropped instead of shifting the
reply. (fakeredis runs the same script through the broker contract suite.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from quorra.broker.redis import RedisIndex
from quorra.broker.redis.client import connect
from quorra.broker.redis.index import Entry
from quorra.broker.redis.keys import GROUP, queue_keys


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Any]:
    real = connect(redis_url)
    await real.flushdb()
    try:
        yield real
    finally:
        await real.flushdb()
        await real.aclose()


async def test_lease_returns_job_and_seq_and_drops_foreign_entries(client: Any) -> None:
    index = RedisIndex(client)
    now = datetime.now(UTC) - timedelta(seconds=1)  # due: not rounded up past Redis's clock
    entries = [Entry(job_id=uuid.uuid4(), queue="q", seq=seq, priority=prio, run_at=now)
               for seq, prio in ((3, 0), (7, 5), (0, -2))]
    assert await index.dispatch("q", entries) == 3
    keys = queue_keys("q")
    await client.zadd(keys.ready, {"not-a-member-of-ours": -10})  # would pop first
    wait, proposals = await index.lease("q", "srv-test", want=10)
    assert [(p.job_id, p.seq) for p in proposals] == [
        (str(entries[1].job_id), 7), (str(entries[0].job_id), 3), (str(entries[2].job_id), 0)]
    assert wait == -1
    pending = await client.xpending(keys.stream, GROUP)
    assert pending["pending"] == 3, "the foreign entry was acknowledged and removed"
    await index.settle("q", proposals)
    assert await client.xlen(keys.stream) == 0
    assert await client.hlen(keys.idx) == 0


async def test_job_due_now_is_leasable_at_once(client: Any) -> None:
    """run_at = the Redis clock's present: ready at once, not after its due ms ticks over."""
    index = RedisIndex(client)
    for seq in range(1, 51):  # bounded; each round's run_at falls inside the current millisecond
        seconds, micros = await client.time()
        entry = Entry(job_id=uuid.uuid4(), queue="q", seq=seq, priority=0,
                      run_at=datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros))
        assert await index.dispatch("q", [entry]) == 1
        _, proposals = await index.lease("q", "srv-test", want=1)
        assert [p.job_id for p in proposals] == [str(entry.job_id)], f"round {seq}"
        await index.settle("q", proposals)


async def test_a_cancelled_wake_up_listener_ends_at_once(client: Any) -> None:
    """redis-py swallows a cancel that arrives while ``get_message`` waits (it returns as if
    timed out): the listener's loop must still end, whenever the cancel comes (while it
    subscribes, or waits for a message)."""
    index = RedisIndex(client)

    async def listen() -> None:
        async with index.subscription() as pubsub:
            for _ in range(100):  # bounded: 100 s at most
                await index.next_message(pubsub, 1.0)

    for delay in (0, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01) * 4:
        task = asyncio.create_task(listen())
        await asyncio.sleep(delay)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=2)
        assert done and task.cancelled(), f"cancelled after {delay}s: still running"
