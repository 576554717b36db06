"""The server checks Redis's eviction policy and AOF (``quorra/broker/redis/config_check.py``):
a WARNING at start, the ``redis_config`` section of ``/readyz`` and
``quorra_redis_config_ok{check}``, on private redis-server processes started with the
configuration under test (the shared test Redis is never reconfigured)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import quorra.broker.redis.stream_broker as stream_broker_module
from quorra.bootstrap import Runtime, running
from quorra.broker.redis import RedisIndex, connect
from quorra.broker.redis.config_check import RedisConfigCheck
from quorra.broker.redis.recorder import LeaseRecorder
from quorra.settings import Address, Settings
from tests.contract.conftest import spec
from tests.integration.redis.private_redis import PrivateRedis
from tests.support import eventually, free_port

KEY = "redis-test-key-0123456789"

CHECK_LOG = "quorra.broker.redis.config_check"
GOOD = ("--maxmemory-policy", "noeviction", "--appendonly", "yes", "--appendfsync", "everysec")
LRU = ("--maxmemory-policy", "allkeys-lru", "--appendonly", "yes")
NO_CONFIG = ("--rename-command", "CONFIG", "")


@pytest.fixture
def redis_with(tmp_path: Path) -> Iterator[Any]:
    """Start private redis-servers with extra configuration; each is killed after the test."""
    started: list[PrivateRedis] = []

    def start(*config: str) -> PrivateRedis:
        server = PrivateRedis(str(tmp_path), config=config).start()  # AOF files in tmp_path
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@contextlib.asynccontextmanager
async def _server(db: str, redis_url: str, leases: str = "stream") -> AsyncIterator[Runtime]:
    settings = Settings(database_url=db, redis_url=redis_url, api_key=KEY, redis_leases=leases,
                        grpc_addr=Address("127.0.0.1", free_port()))
    async with running(settings) as runtime:
        yield runtime


async def _ready(runtime: Runtime) -> dict[str, Any]:
    report: dict[str, Any] = await runtime.app.state.readiness()
    return report


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == CHECK_LOG and r.levelno == logging.WARNING]


async def test_noeviction_with_aof_gives_no_warning(
        clean_db: str, redis_with: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    redis = redis_with(*GOOD)
    async with _server(clean_db, redis.url) as runtime:
        ready = await _ready(runtime)
        assert ready["ready"] and ready["mode"] == "redis"
        assert ready["redis_config"] == {
            "maxmemory_policy": "noeviction", "policy_from": "CONFIG GET", "aof_enabled": True,
            "aof_required": True, "warnings": []}
        registry = runtime.app.state.registry
        for check in ("maxmemory_policy", "aof"):
            assert _sample(registry, "quorra_redis_config_ok", check=check) == 1.0
    assert _warnings(caplog) == []


async def test_allkeys_lru_warns_at_start_in_readyz_and_in_the_gauge(
        clean_db: str, redis_with: Any, caplog: pytest.LogCaptureFixture) -> None:
    redis = redis_with(*LRU)
    async with _server(clean_db, redis.url) as runtime:
        (warning,) = _warnings(caplog)  # logged once, at start
        assert "maxmemory-policy is allkeys-lru" in warning and "noeviction" in warning
        ready = await _ready(runtime)
        assert ready["ready"], "a bad policy is a warning, not unreadiness"
        config = ready["redis_config"]
        assert (config["maxmemory_policy"], config["policy_from"]) == ("allkeys-lru",
                                                                       "CONFIG GET")
        assert [w for w in config["warnings"] if "allkeys-lru" in w] == config["warnings"]
        registry = runtime.app.state.registry
        assert _sample(registry, "quorra_redis_config_ok", check="maxmemory_policy") == 0.0
        assert _sample(registry, "quorra_redis_config_ok", check="aof") == 1.0
        await runtime.app.state.readiness()
    assert len(_warnings(caplog)) == 1, "the same warning is not logged again on every check"


async def test_config_refused_falls_back_to_info(
        clean_db: str, redis_with: Any, caplog: pytest.LogCaptureFixture) -> None:
    redis = redis_with(*NO_CONFIG, "--maxmemory-policy", "volatile-lru")
    async with _server(clean_db, redis.url) as runtime:
        config = (await _ready(runtime))["redis_config"]
        assert (config["maxmemory_policy"], config["policy_from"]) == ("volatile-lru",
                                                                       "INFO memory")
        assert config["aof_enabled"] is False
        assert any("volatile-lru" in w for w in _warnings(caplog))


async def test_aof_off_is_a_warning_with_stream_leases_only(
        clean_db: str, redis_with: Any, caplog: pytest.LogCaptureFixture) -> None:
    redis = redis_with("--maxmemory-policy", "noeviction")  # --appendonly no (the default)
    async with _server(clean_db, redis.url, leases="stream") as runtime:
        ready = await _ready(runtime)
        assert ready["ready"]
        config = ready["redis_config"]
        assert config["aof_enabled"] is False and config["maxmemory_policy"] == "noeviction"
        (warning,) = config["warnings"]
        assert "AOF is off" in warning and "appendonly yes" in warning
        assert _warnings(caplog) == [warning]
        registry = runtime.app.state.registry
        assert _sample(registry, "quorra_redis_config_ok", check="aof") == 0.0
        assert _sample(registry, "quorra_redis_config_ok", check="maxmemory_policy") == 1.0
    caplog.clear()
    async with _server(clean_db, redis.url, leases="grant") as runtime:
        config = (await _ready(runtime))["redis_config"]
        assert config["aof_enabled"] is False and config["aof_required"] is False
        assert config["warnings"] == [] and _warnings(caplog) == []
        assert _sample(runtime.app.state.registry, "quorra_redis_config_ok", check="aof") == 1.0


async def test_a_config_change_shows_up_at_the_next_check(
        redis_with: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    redis = redis_with(*GOOD)
    index = RedisIndex(connect(redis.url))
    seen: list[dict[str, bool]] = []
    try:
        check = RedisConfigCheck(index.config, aof_required=True)
        check.on_result = lambda config: seen.append(config.checks())
        assert (await check.check()) is not None and _warnings(caplog) == []
        with redis.client() as client:
            client.config_set("maxmemory-policy", "allkeys-lfu")
        await check.check()
        assert any("allkeys-lfu" in w for w in _warnings(caplog))
        with redis.client() as client:
            client.config_set("maxmemory-policy", "noeviction")
        await check.check()
        assert "fine now" in caplog.records[-1].getMessage()
        assert [s["maxmemory_policy"] for s in seen] == [True, False, True]
        redis.kill()
        last = check.config
        assert await check.check() is last, "an unreachable Redis keeps the last answer"
        assert "unavailable" in check.error
    finally:
        await index.close()


async def test_unrecorded_leases_lost_with_redis_are_counted(
        clean_db: str, private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch) -> None:
    class Unhurried(LeaseRecorder):  # records nothing by itself during the test
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "interval": 3600})

    monkeypatch.setattr(stream_broker_module, "LeaseRecorder", Unhurried)
    async with _server(clean_db, private_redis.url) as runtime:
        registry = runtime.app.state.registry
        assert _sample(registry, "quorra_leases_lost_with_redis_total") == 0.0
        await runtime.service.enqueue([spec(f"j{i}") for i in range(3)])
        jobs: Sequence[Any] = await runtime.service.lease(["default"], worker_id="w", limit=3)
        assert len(jobs) == 3
        with private_redis.client() as client:
            client.flushdb()

        async def counted() -> float | None:
            return _sample(registry, "quorra_leases_lost_with_redis_total") or None

        assert await eventually(counted, timeout=10, what="the rebuild after FLUSHDB") == 3.0
        assert (await _ready(runtime))["leases_lost_unrecorded"] == 3
