"""Drain rate through real processes: one ``quorra-server`` and 2 ``quorra-worker`` processes
(``test_job``, a no-op), Redis dispatch vs Postgres-only, in the same run. For each mode and
run: start the server and enqueue N jobs with no worker connected, then start the 2 workers and
time until every job succeeded. Prints each run and the medians:

    python -m bench.drain_workers --db postgresql://postgres@127.0.0.1:5432/quorra_bench \\
        --redis redis://127.0.0.1:6379/11 --jobs 10000 --runs 3
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from tests.e2e.test_workers import counts, enqueue
from tests.e2e.worker_processes import API_KEY, Server, Workers, process_env, stop_process
from tests.support import free_port, wait_until

# its sibling by the name the other bench scripts use (they run from bench/), also under -m
sys.path.insert(0, str(Path(__file__).resolve().parent))
from broker_drain import compare_modes


def _server(db: str, redis_url: str | None, tmp: Path) -> Server:
    http_port, grpc_port = free_port(), free_port()
    env = process_env(DATABASE_URL=db, QUORRA_API_KEY=API_KEY, QUORRA_LOG_LEVEL="warn",
                      QUORRA_HTTP_ADDR=f"127.0.0.1:{http_port}",
                      QUORRA_GRPC_ADDR=f"127.0.0.1:{grpc_port}", QUORRA_SHUTDOWN_GRACE="5s",
                      **({"REDIS_URL": redis_url} if redis_url else {}))
    server = Server(env, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}",
                    tmp / "server.log")
    server.start()
    return server


def _run(db: str, redis_url: str | None, jobs: int) -> float:
    with psycopg.connect(db, autocommit=True) as conn:  # the server migrates it at start
        conn.execute("DROP TABLE IF EXISTS quorra_jobs, quorra_migrations CASCADE")
    if redis_url:
        with redis.Redis.from_url(redis_url) as client:
            client.flushdb()
    with tempfile.TemporaryDirectory() as tmp:
        server = _server(db, redis_url, Path(tmp))
        workers = Workers(server, Path(tmp))
        try:
            enqueue(server, [{"type": "test_job", "payload": {"n": i}} for i in range(jobs)])
            started = time.monotonic()
            for n in range(2):
                workers.start(f"w{n}", QUORRA_WORKER_MAX_JOBS="20")
            wait_until(lambda: counts(db).get("succeeded") == jobs, timeout=600, interval=0.05,
                       what="the drain")
            return jobs / (time.monotonic() - started)
        finally:
            for proc in workers.procs:
                stop_process(proc)
            server.stop()


def main() -> None:
    compare_modes(_run)

if __name__ == "__main__":
    main()
