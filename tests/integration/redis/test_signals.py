"""The dispatch signals from real events, read from the server's registry: a Redis that dies
makes the replica fall back (a mode change to ``postgres``), its return a rebuild and a change
back to ``redis``; a Redis emptied under the replica (FLUSHDB) another rebuild."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from quorra.bootstrap import Runtime, running
from quorra.settings import Address, Settings
from tests.contract.conftest import spec
from tests.integration.redis.private_redis import PrivateRedis
from tests.support import eventually, free_port

KEY = "redis-test-key-0123456789"


def sample(runtime: Runtime, name: str, **labels: str) -> float:
    registry: CollectorRegistry = runtime.app.state.registry
    return registry.get_sample_value(name, labels) or 0.0


async def mode_is(runtime: Runtime, mode: str) -> Any:
    return True if (await runtime.app.state.readiness())["mode"] == mode else None


async def test_fallback_return_and_flush_are_counted(clean_db: str,
                                                     private_redis: PrivateRedis) -> None:
    settings = Settings(database_url=clean_db, redis_url=private_redis.url, api_key=KEY,
                        grpc_addr=Address("127.0.0.1", free_port()))
    async with running(settings) as runtime:
        assert runtime.mode == "redis"
        rebuilds = sample(runtime, "quorra_redis_rebuilds_total")
        assert rebuilds >= 1  # the start's rebuild counts
        assert sample(runtime, "quorra_dispatch_mode_changes_total", mode="postgres") == 0
        private_redis.kill()
        await runtime.service.enqueue([spec()])
        await eventually(lambda: mode_is(runtime, "postgres"), timeout=15,
                         what="the fallback to Postgres")
        assert sample(runtime, "quorra_dispatch_mode_changes_total", mode="postgres") == 1
        assert sample(runtime, "quorra_dispatch_mode", mode="postgres") == 1
        private_redis.start()
        await eventually(lambda: mode_is(runtime, "redis"), timeout=20,
                         what="Redis mode to resume")
        assert sample(runtime, "quorra_redis_rebuilds_total") == rebuilds + 1
        assert sample(runtime, "quorra_dispatch_mode_changes_total", mode="rebuilding") >= 1
        assert sample(runtime, "quorra_dispatch_mode_changes_total", mode="redis") >= 1
        private_redis.client().flushdb()

        async def rebuilt_again() -> Any:
            return True if sample(runtime, "quorra_redis_rebuilds_total") >= rebuilds + 2 \
                else None

        await eventually(rebuilt_again, timeout=20, what="a rebuild after FLUSHDB")
        await eventually(lambda: mode_is(runtime, "redis"), timeout=20,
                         what="Redis mode after the rebuild")
        assert sample(runtime, "quorra_dispatch_mode_changes_total", mode="postgres") == 1
