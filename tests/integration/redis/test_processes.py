"""Real server processes: one killed with SIGKILL between read and grant, and two draining
20,000 jobs with 8 lessees each (lessees call the broker directly, standing in for workers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from quorra.broker.redis import RedisBroker
from quorra.broker.redis.keys import GROUP, queue_keys
from tests.contract.conftest import spec
from tests.integration.redis.lessee import drain, open_broker
from tests.integration.redis.private_redis import PrivateRedis

ROOT = Path(__file__).resolve().parents[3]


def _spawn(module: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)


async def _count(db: str, where: str) -> int:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        cur = await conn.execute(f"SELECT count(*) FROM quorra_jobs WHERE {where}")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


@pytest.mark.slow
async def test_server_killed_between_read_and_grant(clean_db: str,
                                                    private_redis: PrivateRedis) -> None:
    async with open_broker(clean_db, private_redis.url, reclaim_idle=1.0,
                           consumer_idle=1.0) as broker:
        assert isinstance(broker, RedisBroker)
        await broker.enqueue([spec(f"k{i}") for i in range(50)])
        doomed = _spawn("tests.integration.redis.doomed_server", clean_db, private_redis.url,
                        "50")
        try:
            assert doomed.stdout is not None and doomed.stdout.readline().strip() == "read"
        finally:
            doomed.send_signal(signal.SIGKILL)
            doomed.communicate(timeout=10)
        stream = queue_keys("default").stream
        with private_redis.client() as client:
            assert client.xpending(stream, GROUP)["pending"] == 50, "read, never granted"
        assert await broker.lease(["default"], worker_id="w", limit=50, ttl=30) == []
        executed: list[uuid.UUID] = []

        def until() -> bool:
            return len(executed) >= 50

        deadline = time.monotonic() + 30
        while not until() and time.monotonic() < deadline:
            await broker.reclaim()  # the housekeeping chore, run here without its timer
            await drain(broker, "default", lessees=2, executed=executed, until=until,
                        deadline=min(deadline, time.monotonic() + 1))
        await broker.settled()  # proposals are settled in Redis after their grant
        with private_redis.client() as client:
            assert client.xpending(stream, GROUP)["pending"] == 0
            consumers = [c["name"] for c in client.xinfo_consumers(stream, GROUP)]
            assert consumers == [broker.supervisor.consumer], "the dead server's consumer is gone"
    assert sorted(executed) == sorted(set(executed)) and len(executed) == 50
    assert await _count(clean_db, "status = 'succeeded' AND attempts = 1") == 50


@pytest.mark.slow
async def test_two_servers_eight_lessees_20000_jobs_exactly_once(
    clean_db: str, private_redis: PrivateRedis
) -> None:
    total = 20_000
    async with open_broker(clean_db, private_redis.url) as broker:
        for start in range(0, total, 1000):
            await broker.enqueue([spec(f"x{start + i}", priority=i % 5) for i in range(1000)])
    servers = [_spawn("tests.integration.redis.lessee", "--db", clean_db, "--redis",
                      private_redis.url, "--lessees", "8", "--idle", "2", "--timeout", "100")
               for _ in range(2)]
    results = []
    for server in servers:
        out, _ = server.communicate(timeout=120)
        assert server.returncode == 0
        results.append(json.loads(out.splitlines()[-1]))
    executed = [job for r in results for job in r["executed"]]
    assert all(r["executed"] for r in results), "both servers took part"
    assert len(executed) == total and len(set(executed)) == total
    assert await _count(clean_db, "status = 'succeeded' AND attempts = 1") == total
