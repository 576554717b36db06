"""The dataset's lease mode: replicas configured with different ``QUORRA_REDIS_LEASES`` never
share a Redis dataset. The first replica records its mode beside the dataset token; a replica
of the other mode dispatches from PostgreSQL (correct, slower, loud) until the dataset is
emptied, then takes it over. A dataset made before modes were recorded takes the mode of the
first replica that sees it."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from quorra.broker.redis.keys import LEASE_MODE, TOKEN
from tests.contract.conftest import spec
from tests.integration.redis.lessee import lease_of, open_broker
from tests.integration.redis.private_redis import PrivateRedis
from tests.support import eventually

FAST: dict[str, Any] = {"probe_interval": 0.1, "recover_after": 0.3, "min_fallback": 0.5,
                        "fail_after": 0.3}


async def _marker(url: str) -> str | None:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        value = await client.get(LEASE_MODE)
        return None if value is None else str(value)
    finally:
        await client.aclose()


async def test_a_replica_of_the_other_mode_dispatches_from_postgres(
        clean_db: str, private_redis: PrivateRedis) -> None:
    async with open_broker(clean_db, private_redis.url, leases="grant", **FAST) as grant:
        assert grant.mode == "redis", grant.health()
        assert await _marker(private_redis.url) == "grant"
        async with open_broker(clean_db, private_redis.url, leases="stream", **FAST) as stream:
            assert stream.mode == "postgres"
            health = stream.health()
            assert "QUORRA_REDIS_LEASES=grant" in health["redis"], health
            done = await stream.enqueue([spec(f"m{i}") for i in range(4)])
            jobs = await stream.lease(["default"], worker_id="w-stream", limit=4, ttl=30)
            assert {j.id for j in jobs} == {d.id for d in done}, "it still serves, from Postgres"
            for job in jobs:
                await stream.ack(job.id, lease_of(job), None)
            assert stream.mode == "postgres" and grant.mode == "redis"
            assert await _marker(private_redis.url) == "grant", "the refused replica wrote nothing"


async def test_the_other_mode_takes_an_emptied_dataset_over(
        clean_db: str, private_redis: PrivateRedis) -> None:
    async with open_broker(clean_db, private_redis.url, leases="grant", **FAST) as grant:
        assert grant.mode == "redis", grant.health()
    async with open_broker(clean_db, private_redis.url, leases="stream", **FAST) as stream:
        assert stream.mode == "postgres"
        await stream.enqueue([spec("before-flush")])
        private_redis.client().flushdb()  # the documented switch: stop all, empty Redis, start
        async def in_redis_mode() -> bool:
            return bool(stream.mode == "redis")

        await eventually(in_redis_mode, timeout=10,
                         what="the stream replica taking the emptied dataset over")
        assert await _marker(private_redis.url) == "stream"
        jobs = await stream.lease(["default"], worker_id="w", limit=1, ttl=30)
        assert [j.type for j in jobs] == ["before-flush"], "the rebuild proposed it"


async def test_a_dataset_made_before_modes_were_recorded_takes_the_first_replicas_mode(
        clean_db: str, private_redis: PrivateRedis) -> None:
    client = private_redis.client()
    client.set(TOKEN, "made-by-the-previous-release")
    async with open_broker(clean_db, private_redis.url, leases="stream", **FAST) as stream:
        assert stream.mode == "redis", stream.health()
        assert await _marker(private_redis.url) == "stream"
        assert client.get(TOKEN) == "made-by-the-previous-release", "the dataset is kept"
