"""Cancel across replicas in Redis mode: one server holds a lease (in stream mode not yet
recorded in PostgreSQL), another cancels the job; the holder hears of the voided lease through
PostgreSQL NOTIFY, its late ack is refused, and no server leases the job again."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from quorra.core.errors import LeaseLost
from quorra.core.jobs import JobStatus
from tests.contract.conftest import spec
from tests.integration.redis.lessee import open_broker
from tests.support import eventually, listening


@pytest.fixture
async def flushed(redis_url: str) -> str:
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushdb()
    except Exception as exc:
        pytest.skip(f"Redis unavailable: {exc}")
    finally:
        await client.aclose()
    return redis_url


@pytest.mark.parametrize("leases", ["grant", "stream"])
async def test_cancel_on_another_server_reaches_the_holder(clean_db: str, flushed: str,
                                                           leases: str) -> None:
    async with open_broker(clean_db, flushed, leases=leases) as holder, \
            open_broker(clean_db, flushed, leases=leases) as other:
        told: asyncio.Queue[tuple[uuid.UUID, uuid.UUID]] = asyncio.Queue()
        holder.on_cancel(lambda job, lease: told.put_nowait((job, lease)))
        here: list[tuple[uuid.UUID, uuid.UUID]] = []
        other.on_cancel(lambda job, lease: here.append((job, lease)))
        await holder.enqueue([spec(queue="x"), spec(queue="x")])
        await eventually(lambda: listening(clean_db, 2), what="both servers to LISTEN")
        (job,) = await holder.lease(["x"], worker_id="w", limit=1, ttl=30)
        assert job.lease_id is not None
        cancelled = await other.cancel(job.id)
        assert cancelled.changed
        assert here == [(job.id, job.lease_id)]  # the cancelling server's own hook, at once
        assert await asyncio.wait_for(told.get(), 5) == (job.id, job.lease_id)
        with pytest.raises(LeaseLost):
            await holder.ack(job.id, job.lease_id)
        with pytest.raises(LeaseLost):
            await holder.extend(job.id, job.lease_id, 30)
        others = [j for b in (holder, other) for j in await b.lease(["x"], worker_id="w",
                                                                    limit=5, ttl=30)]
        assert [j.id for j in others] != [job.id] and len(others) == 1
        again = await holder.cancel(job.id)
        assert not again.changed and again.job is not None
        assert again.job.status is JobStatus.CANCELLED
        assert here == [(job.id, job.lease_id)] and told.empty()  # its own NOTIFY not re-told
