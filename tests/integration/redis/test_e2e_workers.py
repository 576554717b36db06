"""End to end in Redis mode: real ``quorra-server`` processes dispatching through a private
Redis to real ``quorra-worker`` processes over gRPC."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from quorra.broker.redis.keys import GROUP, queue_keys
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.e2e.test_workers import KEY, counts, enqueue, execute, rows
from tests.e2e.worker_processes import API_KEY, Server, Workers, process_env, stop_process
from tests.integration.redis.private_redis import PrivateRedis
from tests.support import free_port, wait_until


def _server(db: str, redis_url: str, tmp: Path, name: str, leases: str = "grant") -> Server:
    http_port, grpc_port = free_port(), free_port()
    env = process_env(DATABASE_URL=db, REDIS_URL=redis_url, QUORRA_API_KEY=API_KEY,
                      QUORRA_REDIS_LEASES=leases,
                      QUORRA_LOG_LEVEL="warn", QUORRA_HTTP_ADDR=f"127.0.0.1:{http_port}",
                      QUORRA_GRPC_ADDR=f"127.0.0.1:{grpc_port}", QUORRA_SHUTDOWN_GRACE="5s")
    server = Server(env, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}",
                    tmp / f"{name}.log")
    server.start()
    return server


@pytest.fixture(params=["grant", "stream"])
def redis_servers(clean_db: str, private_redis: PrivateRedis, tmp_path: Path,
                  request: pytest.FixtureRequest) -> Iterator[list[Server]]:
    """Two servers on one Redis, in one of the two Redis lease paths."""
    servers: list[Server] = []
    try:
        for n in range(2):
            servers.append(_server(clean_db, private_redis.url, tmp_path, f"server{n}",
                                   leases=request.param))
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
        # 10 ms each, 40 at a time: over a second of work is left when the flush comes
        enqueue(redis_servers[0], [{"type": "sleep", "payload": {"seconds": 0.01, "n": i}}
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


@pytest.fixture
def stream_server(clean_db: str, private_redis: PrivateRedis,
                  tmp_path: Path) -> Iterator[Server]:
    server = _server(clean_db, private_redis.url, tmp_path, "stream", leases="stream")
    try:
        yield server
    finally:
        if server.proc is not None:
            stop_process(server.proc)


def test_stream_killed_worker_is_taken_back_after_ttl_and_its_ack_refused(
    clean_db: str, stream_server: Server, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    workers = Workers(stream_server, tmp_path)
    victim = workers.start("victim", QUORRA_WORKER_LEASE_TTL="2s")
    try:
        (job_id,) = enqueue(stream_server, [{"type": "sleep", "payload": {"seconds": 60}}])
        leased = wait_until(lambda: rows(clean_db, "SELECT lease_id FROM quorra_jobs "
                                                   "WHERE status = 'leased'"), timeout=10,
                            what="the lease to be recorded")
        old_lease = str(leased[0][0])
        victim.send_signal(signal.SIGKILL)
        victim.wait(5)
        # the expiry re-dispatches the job with its body as PostgreSQL has it then
        execute(clean_db, "UPDATE quorra_jobs SET payload = '{\"seconds\": 0.1}'")
        workers.start("rescuer")
        wait_until(lambda: counts(clean_db).get("succeeded") == 1, timeout=20,
                   what="the job to be re-run after its lease expired")
    finally:
        for proc in workers.procs:
            stop_process(proc)
    ((attempts, error),) = rows(clean_db, "SELECT attempts, last_error FROM quorra_jobs")
    assert attempts == 2 and error == "lease expired"
    with grpc.insecure_channel(stream_server.grpc) as channel, \
            pytest.raises(grpc.RpcError) as info:
        pb_grpc.WorkerServiceStub(channel).AckJob(
            pb.JobAck(job_id=job_id, lease_id=old_lease, success=True), metadata=KEY)
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    with private_redis.client() as client:
        assert client.xpending(queue_keys("default").stream, GROUP)["pending"] == 0
    with stream_server.client() as http:
        metrics = http.get("/metrics").text  # taken back by XAUTOCLAIM, not the SQL reaper
    assert 'quorra_lease_expiries_xautoclaim_total{queue="default"} 1.0' in metrics
    assert 'quorra_lease_expiries_total{queue="default"} 1.0' in metrics


def test_stream_heartbeats_keep_a_long_job_on_one_attempt(
    clean_db: str, stream_server: Server, tmp_path: Path
) -> None:
    workers = Workers(stream_server, tmp_path)
    workers.start("w1", QUORRA_WORKER_LEASE_TTL="1s")
    try:
        enqueue(stream_server, [{"type": "sleep", "payload": {"seconds": 3.5}}])
        wait_until(lambda: counts(clean_db).get("succeeded") == 1, timeout=20)
    finally:
        for proc in workers.procs:
            stop_process(proc)
    assert rows(clean_db, "SELECT attempts, last_error FROM quorra_jobs") == [(1, None)]
