"""A replica leaves Redis mode only on a sustained failure: a Redis that stalls (SIGSTOP) for
less than the threshold leaves the mode alone, one that stalls for longer makes it fall back —
and every job is executed exactly once either way."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from typing import Any

import pytest

from quorra.broker.redis import RedisBroker
from tests.contract.conftest import spec
from tests.integration.redis.lessee import drain, open_broker
from tests.integration.redis.private_redis import PrivateRedis

# probes time out after 1 s; failures must then last 1 s more: a stall over ~2 s falls back
OPTIONS: dict[str, Any] = {"probe_interval": 0.1, "recover_after": 1.0, "min_fallback": 2.0,
                           "fail_after": 1.0}


async def _stall(redis: PrivateRedis, seconds: float) -> None:
    assert redis.proc is not None
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)  # the fault's own duration, not a wait for a result
    finally:
        redis.proc.send_signal(signal.SIGCONT)


@pytest.mark.parametrize(("stall", "falls_back"), [(1.4, False), (4.0, True)],
                         ids=["short stall stays", "long stall falls back"])
async def test_mode_changes_only_on_a_sustained_failure(
    clean_db: str, private_redis: PrivateRedis, stall: float, falls_back: bool
) -> None:
    total = 300
    executed: list[uuid.UUID] = []
    async with open_broker(clean_db, private_redis.url, **OPTIONS) as broker:
        assert isinstance(broker, RedisBroker) and broker.mode == "redis"
        modes: set[str] = set()
        broker.state.on_change = modes.add

        async def produce_and_stall() -> None:
            await broker.enqueue([spec(f"a{i}") for i in range(total // 2)])
            await _stall(private_redis, stall)
            await broker.enqueue([spec(f"b{i}") for i in range(total // 2)])

        await asyncio.gather(produce_and_stall(), drain(
            broker, "default", lessees=4, executed=executed, batch=5,
            until=lambda: len(executed) >= total, deadline=time.monotonic() + 60))
        assert (broker.state.fallbacks > 0) is falls_back, (stall, modes)
        assert ("postgres" in modes) is falls_back
    assert len(executed) == total and len(set(executed)) == total
