"""The Redis configuration check without a Redis server: how the policy is read (CONFIG GET,
else INFO, else ``unknown``), the verdicts and warnings, the ``/readyz`` cache, and a Redis
that does not answer."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest
from redis.exceptions import NoPermissionError, ResponseError

from quorra.broker.redis.config_check import RedisConfig, RedisConfigCheck
from quorra.broker.redis.index import RedisIndex
from quorra.core.errors import DispatchUnavailable


class _ManagedRedis:
    """A client whose CONFIG is refused (renamed or by ACL) and whose INFO answers."""

    def __init__(self, refusal: Exception, info: dict[str, dict[str, Any]]) -> None:
        self.refusal = refusal
        self.sections = info

    def register_script(self, script: str) -> Any:
        return None

    async def config_get(self, pattern: str) -> dict[str, str]:
        raise self.refusal

    async def info(self, section: str) -> dict[str, Any]:
        if section not in self.sections:
            raise ResponseError("unknown command 'INFO'")
        return self.sections[section]


async def test_fakeredis_answers_neither_so_the_policy_is_unknown() -> None:
    index = RedisIndex(fakeredis.FakeAsyncRedis(decode_responses=True))
    config = await index.config()
    assert config == RedisConfig(maxmemory_policy="unknown", policy_from=None, aof_enabled=None)
    assert config.checks() == {"maxmemory_policy": False, "aof": False}
    policy, aof = config.warnings()
    assert "maxmemory-policy is unknown" in policy and "AOF is unknown" in aof


@pytest.mark.parametrize("refusal", [ResponseError("unknown command 'CONFIG'"),
                                     NoPermissionError("NOPERM no permissions to run 'config'")])
async def test_a_refused_config_falls_back_to_info(refusal: Exception) -> None:
    client = _ManagedRedis(refusal, {"memory": {"maxmemory_policy": "noeviction"},
                                     "persistence": {"aof_enabled": 1}})
    config = await RedisIndex(client).config()  # type: ignore[arg-type]
    assert config == RedisConfig(maxmemory_policy="noeviction", policy_from="INFO memory",
                                 aof_enabled=True)
    assert config.warnings() == []


async def test_a_refused_info_leaves_the_policy_unknown() -> None:
    client = _ManagedRedis(ResponseError("unknown command 'CONFIG'"),
                           {"persistence": {"aof_enabled": 0}})
    config = await RedisIndex(client).config()  # type: ignore[arg-type]
    assert (config.maxmemory_policy, config.policy_from, config.aof_enabled) == (
        "unknown", None, False)


def test_aof_off_is_fine_when_not_required() -> None:
    config = RedisConfig("noeviction", "CONFIG GET", aof_enabled=False, aof_required=False)
    assert config.checks() == {"maxmemory_policy": True, "aof": True}
    assert config.warnings() == []
    assert config.report()["aof_enabled"] is False


class _Reader:
    def __init__(self, *answers: RedisConfig | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self) -> RedisConfig:
        self.calls += 1
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_readyz_reads_through_a_short_cache() -> None:
    now = [100.0]
    reader = _Reader(RedisConfig("allkeys-lru", "CONFIG GET", True))
    check = RedisConfigCheck(reader, aof_required=True, fresh_for=5.0, clock=lambda: now[0])
    first = await check.report()
    assert reader.calls == 1 and first["maxmemory_policy"] == "allkeys-lru"
    assert len(first["warnings"]) == 1
    now[0] += 4.0
    assert await check.report() == first and reader.calls == 1
    now[0] += 2.0
    await check.report()
    assert reader.calls == 2


async def test_an_unreachable_redis_keeps_the_last_answer() -> None:
    good = RedisConfig("noeviction", "CONFIG GET", True)
    reader = _Reader(DispatchUnavailable("Redis is unavailable: refused"), good,
                     DispatchUnavailable("Redis is unavailable: refused"))
    check = RedisConfigCheck(reader, aof_required=True, fresh_for=0.0)
    report = await check.report()
    assert report["maxmemory_policy"] == "unknown"
    assert report["warnings"] == ["Redis configuration not read: Redis is unavailable: refused"]
    assert await check.check() == good
    assert await check.check() == good and check.config == good


async def test_a_hung_redis_does_not_hold_the_check() -> None:
    async def hang() -> RedisConfig:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    check = RedisConfigCheck(hang, aof_required=False, timeout=0.05)
    assert await check.check() is None
    assert check.error == "Redis did not answer in time"
