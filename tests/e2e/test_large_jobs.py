"""Large jobs through real processes: 400 jobs of 900 KiB (under the 1 MiB payload limit) and
one ``quorra-worker`` with a window of 50 (45 MB of jobs at once, over any single gRPC message).
The server cuts its Session responses to the worker's announced size, the worker cuts its
settlements (each result echoes the 900 KiB payload), and every job runs once, in both dispatch
modes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import msgspec
import pytest
import redis

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.e2e.test_workers import counts, rows
from tests.e2e.worker_processes import API_KEY, Server, Workers, process_env, stop_process
from tests.support import REDIS_URL, free_port, wait_until

KEY = (("x-api-key", API_KEY),)
JOBS = 400
PAYLOAD = msgspec.json.encode({"blob": "x" * (900 * 1024)})
PER_MESSAGE = 10  # 9 MB per enqueue message: under the server's 10 MiB receive limit


def _server(db: str, tmp: Path, redis_url: str) -> Server:
    http_port, grpc_port = free_port(), free_port()
    env = process_env(DATABASE_URL=db, QUORRA_API_KEY=API_KEY, QUORRA_LOG_LEVEL="warn",
                      QUORRA_HTTP_ADDR=f"127.0.0.1:{http_port}",
                      QUORRA_GRPC_ADDR=f"127.0.0.1:{grpc_port}", QUORRA_SHUTDOWN_GRACE="5s",
                      **({"REDIS_URL": redis_url} if redis_url else {}))
    return Server(env, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}",
                  tmp / "server.log")


@pytest.fixture(params=["redis", "postgres"])
def large_server(request: pytest.FixtureRequest, clean_db: str,
                 tmp_path: Path) -> Iterator[Server]:
    redis_url = REDIS_URL if request.param == "redis" else ""
    if redis_url:
        try:
            redis.Redis.from_url(redis_url).flushdb()
        except redis.RedisError as exc:
            pytest.skip(f"Redis unavailable: {exc}")
    server = _server(clean_db, tmp_path, redis_url)
    server.start()
    with server.client() as http:
        assert http.get("/readyz").json()["mode"] == request.param
    yield server
    server.stop()


def _enqueue(server: Server) -> None:
    with grpc.insecure_channel(server.grpc) as channel:
        stub = pb_grpc.WorkerServiceStub(channel)
        for _ in range(JOBS // PER_MESSAGE):
            specs = [pb.JobSpec(type="test_job", payload=PAYLOAD) for _ in range(PER_MESSAGE)]
            stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=specs), metadata=KEY, timeout=30)


def test_400_jobs_of_900_kib_drain_through_a_window_of_50(
    clean_db: str, large_server: Server, tmp_path: Path
) -> None:
    _enqueue(large_server)
    assert counts(clean_db) == {"pending": JOBS}
    pool = Workers(large_server, tmp_path)
    started = time.monotonic()
    worker = pool.start("big", QUORRA_WORKER_MAX_JOBS="50")
    try:
        wait_until(lambda: counts(clean_db).get("succeeded") == JOBS, timeout=90, interval=0.25,
                   what=f"{JOBS} large jobs to succeed")
    finally:
        print(f"\n{JOBS} x 900 KiB drained in {time.monotonic() - started:.1f}s")
        stop_process(worker)
    log = pool.log("big")
    assert "RESOURCE_EXHAUSTED" not in log and "session lost" not in log, log[-2000:]
    assert rows(clean_db, "SELECT min(attempts), max(attempts) FROM quorra_jobs") == [(1, 1)]
    sizes = rows(clean_db, "SELECT min(octet_length(result->'echo'->>'blob')) FROM quorra_jobs")
    assert sizes == [(900 * 1024,)]
