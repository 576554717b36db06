"""The composition root picks Redis dispatch when REDIS_URL is set and reports it."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest

from quorra.bootstrap import running
from quorra.settings import Address, Settings
from tests.contract.conftest import spec
from tests.integration.redis.private_redis import PrivateRedis
from tests.support import eventually, free_port

KEY = "redis-test-key-0123456789"


async def test_readyz_and_gauge_report_dispatch_mode(clean_db: str,
                                                     private_redis: PrivateRedis) -> None:
    settings = Settings(database_url=clean_db, redis_url=private_redis.url, api_key=KEY,
                        grpc_addr=Address("127.0.0.1", free_port()))
    async with running(settings) as runtime:
        assert runtime.mode == "redis"
        ready = await runtime.app.state.readiness()
        assert ready == {"ready": True, "postgres": "ok", "mode": "redis", "redis": "ok",
                         "redis_config": {"maxmemory_policy": "noeviction",
                                          "policy_from": "CONFIG GET", "aof_enabled": False,
                                          "aof_required": False, "warnings": []}}
        await runtime.service.enqueue([spec()])
        jobs = await runtime.service.lease(["default"], worker_id="w", limit=1)
        assert len(jobs) == 1
        metrics = generate_latest(runtime.app.state.registry).decode()
        assert 'quorra_dispatch_mode{mode="redis"} 1.0' in metrics
        assert 'quorra_dispatch_mode{mode="postgres"} 0.0' in metrics
        private_redis.kill()
        await runtime.service.enqueue([spec()])  # committed although Redis is gone

        async def fell_back() -> Any:
            ready = await runtime.app.state.readiness()
            return ready if ready["mode"] == "postgres" else None

        # a sustained failure (not one failed call) switches the mode: within a few seconds
        ready = await eventually(fell_back, timeout=10, what="the fallback to Postgres")
        assert ready["ready"] and ready["redis"] != "ok"


async def test_postgres_only_without_redis_url(clean_db: str) -> None:
    settings = Settings(database_url=clean_db, api_key=KEY,
                        grpc_addr=Address("127.0.0.1", free_port()))
    async with running(settings) as runtime:
        ready = await runtime.app.state.readiness()
        assert ready["mode"] == "postgres" and ready["redis"] == "not configured"


async def test_stream_leases_when_asked(clean_db: str, private_redis: PrivateRedis) -> None:
    settings = Settings(database_url=clean_db, redis_url=private_redis.url, api_key=KEY,
                        redis_leases="stream", grpc_addr=Address("127.0.0.1", free_port()))
    async with running(settings) as runtime:
        ready = await runtime.app.state.readiness()
        assert (ready["mode"], ready["leases"]) == ("redis", "stream")
        await runtime.service.enqueue([spec()])
        (job,) = await runtime.service.lease(["default"], worker_id="w", limit=1)
        assert job.lease_id is not None and job.attempts == 1
        settled = await runtime.service.ack(job.id, job.lease_id)
        assert settled.status.value == "succeeded"


async def _leases_of(settings: Settings) -> tuple[str, str]:
    async with running(settings) as runtime:
        ready = await runtime.app.state.readiness()
        return ready["mode"], ready.get("leases", "grant")


async def test_unset_lease_mode_follows_the_dataset_else_grant(
        clean_db: str, private_redis: PrivateRedis) -> None:
    """With QUORRA_REDIS_LEASES unset a replica takes the mode the Redis dataset records, so a
    release that changes the default cannot mix modes in a rolling upgrade; an empty Redis
    gets grant. An explicit setting is kept, and refused by a dataset of the other mode."""
    def settings(leases: str = "") -> Settings:
        return Settings(database_url=clean_db, redis_url=private_redis.url, api_key=KEY,
                        redis_leases=leases, grpc_addr=Address("127.0.0.1", free_port()))

    assert await _leases_of(settings()) == ("redis", "grant")
    private_redis.client().flushdb()
    assert await _leases_of(settings("stream")) == ("redis", "stream")  # records stream
    assert await _leases_of(settings()) == ("redis", "stream"), "follows the dataset"
    assert await _leases_of(settings("grant")) == ("postgres", "grant"), "explicit: refused"
