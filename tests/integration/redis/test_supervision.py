"""Redis mode's background tasks (health monitor, wake-up listener) come back after an
injected failure, logged at ERROR."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from quorra.broker.redis import RedisBroker
from tests.integration.redis.lessee import open_broker
from tests.integration.redis.private_redis import PrivateRedis
from tests.support import eventually


def _errors(caplog: pytest.LogCaptureFixture, task: str) -> int:
    return sum(1 for r in caplog.records
               if r.levelno == logging.ERROR and task in r.getMessage() and r.exc_info)


async def test_monitor_and_listener_are_restarted(
    clean_db: str, private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    async with open_broker(clean_db, private_redis.url, probe_interval=0.05) as broker:
        assert isinstance(broker, RedisBroker)
        index = broker.supervisor.index
        real_next, real_identity = index.next_message, index.identity
        calls = {"next": 0, "identity": 0}

        async def next_message(pubsub: Any, timeout: float) -> str | None:
            calls["next"] += 1
            if calls["next"] == 1:
                raise RuntimeError("injected listener bug")
            return await real_next(pubsub, min(timeout, 0.05))

        async def identity() -> Any:
            calls["identity"] += 1
            if calls["identity"] == 1:
                raise RuntimeError("injected monitor bug")
            return await real_identity()

        monkeypatch.setattr(index, "next_message", next_message)
        monkeypatch.setattr(index, "identity", identity)

        async def both_back() -> bool:
            return calls["next"] >= 3 and calls["identity"] >= 3

        await eventually(both_back, timeout=15, what="monitor and listener running again")
        await asyncio.sleep(0)
        assert _errors(caplog, "quorra-redis-listener") == 1
        assert _errors(caplog, "quorra-redis-monitor") == 1
        assert broker.health()["mode"] == "redis"
