"""End to end in Redis mode: real ``quorra-server`` processes dispatching through a private
Redis to real ``quorra-worker`` processes over gRPC."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_workers import counts, enqueue, rows
from tests.e2e.worker_processes import API_KEY, Server, Workers, process_env, stop_process
from tests.integration.redis.private_redis import PrivateRedis
from tests.support import free_port, wait_until


def _server(db: str, redis_url: str, tmp: Path, name: str) -> Server:
    http_port, grpc_port = free_port(), free_port()
    env = process_env(DATABASE_URL=db, REDIS_URL=redis_url, QUORRA_API_KEY=API_KEY,
                      QUORRA_LOG_LEVEL="warn", QUORRA_HTTP_ADDR=f"127.0.0.1:{http_port}",
                      QUORRA_GRPC_ADDR=f"127.0.0.1:{grpc_port}", QUORRA_SHUTDOWN_GRACE="5s")
    server = Server(env, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}",
                    tmp / f"{name}.log")
    server.start()
    return server


@pytest.fixture
def redis_servers(clean_db: str, private_redis: PrivateRedis,
                  tmp_path: Path) -> Iterator[list[Server]]:
    servers: list[Server] = []
    try:
        for n in range(2):
            servers.append(_server(clean_db, private_redis.url, tmp_path, f"server{n}"))
        yield servers
    finally:
        for server in servers:
            if server.proc is not None:
                stop_process(server.proc)


def _mode(server: Server) -> str:
    mode: str = httpx.get(f"{server.http}/readyz", timeout=2).json()["mode"]
    return mode


@pytest.mark.slow
def test_two_servers_eight_workers_20000_jobs_exactly_once(
    clean_db: str, redis_servers: list[Server], tmp_path: Path
) -> None:
    total = 20_000
    assert [_mode(s) for s in redis_servers] == ["redis", "redis"]
    pools = [Workers(server, tmp_path) for server in redis_servers]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(8):
            procs.append(pools[n % 2].start(f"w{n}", QUORRA_WORKER_MAX_JOBS="20"))
        for half in range(2):  # producers on both servers
            enqueue(redis_servers[half], [{"type": "test_job", "payload": {"n": half * 10_000 + i}}
                                          for i in range(total // 2)])
        wait_until(lambda: counts(clean_db).get("succeeded") == total, timeout=110,
                   interval=0.5, what=f"{total} jobs to succeed")
    finally:
        for proc in procs:
            stop_process(proc)
    assert rows(clean_db, "SELECT min(attempts), max(attempts) FROM quorra_jobs") == [(1, 1)]
    by_server = rows(clean_db, "SELECT count(DISTINCT leased_by) FROM quorra_jobs")
    assert by_server[0][0] == 8, "all eight workers took part"
    assert [_mode(s) for s in redis_servers] == ["redis", "redis"]


@pytest.mark.slow
def test_flushdb_with_5000_jobs_in_flight_through_workers(
    clean_db: str, redis_servers: list[Server], private_redis: PrivateRedis, tmp_path: Path
) -> None:
    total = 5000
    pools = [Workers(server, tmp_path) for server in redis_servers]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(4):
            procs.append(pools[n % 2].start(f"f{n}", QUORRA_WORKER_MAX_JOBS="10"))
        enqueue(redis_servers[0], [{"type": "test_job", "payload": {"n": i}}
                                   for i in range(total)])
        wait_until(lambda: counts(clean_db).get("succeeded", 0) >= 500, timeout=60,
                   interval=0.05, what="500 jobs done before the flush")
        with private_redis.client() as client:
            client.flushdb()
        assert counts(clean_db).get("succeeded", 0) < total, "the flush hit jobs in flight"
        wait_until(lambda: counts(clean_db).get("succeeded") == total, timeout=90,
                   interval=0.5, what=f"all {total} jobs to succeed after the flush")
    finally:
        for proc in procs:
            stop_process(proc)
    # No lease expired (ttl 30 s), so no job may have run twice: each was leased once.
    assert rows(clean_db, "SELECT min(attempts), max(attempts) FROM quorra_jobs") == [(1, 1)]
    assert [_mode(s) for s in redis_servers] == ["redis", "redis"]
