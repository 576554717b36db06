"""``enqueue_many`` throughput from one producer process (``quorra.Client``, gRPC batch path).

Starts its own ``quorra-server`` (Postgres-only, or Redis mode with ``--redis-url`` once the
server has one) on free ports over ``--database-url``, empties the job table before each run,
times ``Client.enqueue_many`` of ``--jobs`` jobs from this process and checks the count in
PostgreSQL (committed rows must equal the ids returned). Prints each run and the median.

    python bench/client_enqueue.py [--jobs 30000] [--rounds 3] [--batch-size 500]
                                   [--concurrency 4] [--database-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg

import quorra

API_KEY = "bench-client-key"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(database_url: str, redis_url: str | None) -> Iterator[tuple[str, int]]:
    http, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORRA_")}
    env.pop("REDIS_URL", None)
    env |= {"DATABASE_URL": database_url, "QUORRA_API_KEY": API_KEY, "QUORRA_LOG_LEVEL": "warn",
            "QUORRA_HTTP_ADDR": f"127.0.0.1:{http}", "QUORRA_GRPC_ADDR": f"127.0.0.1:{grpc_port}"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([str(BIN / "quorra-server")], env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"quorra-server did not start: {log.read()[-2000:]!r}")
                with contextlib.suppress(OSError), urllib.request.urlopen(
                        f"http://127.0.0.1:{http}/readyz", timeout=1):
                    break
                time.sleep(0.1)  # a start-up poll with a deadline
            yield f"127.0.0.1:{grpc_port}", proc.pid
        finally:
            proc.terminate()
            proc.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(target: str, server_pid: int, database_url: str,
             args: argparse.Namespace) -> tuple[float, float, float]:
    """jobs/s, and the client's and the server's CPU microseconds per job."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE quorra_jobs")
    jobs = ({"type": "bench", "payload": {"n": n, "to": "user@example.com"}}
            for n in range(args.jobs))
    with quorra.Client(target, api_key=API_KEY, batch_size=args.batch_size,
                       concurrency=args.concurrency) as client:
        started, mine, theirs = time.perf_counter(), time.process_time(), cpu_seconds(server_pid)
        done = client.enqueue_many(jobs)
        seconds = time.perf_counter() - started
        mine, theirs = time.process_time() - mine, cpu_seconds(server_pid) - theirs
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM quorra_jobs").fetchone()
    if row is None or not row[0] == len(done) == args.jobs:
        raise SystemExit(f"stored {row} jobs, {len(done)} ids returned, {args.jobs} sent")
    return args.jobs / seconds, mine / args.jobs * 1e6, theirs / args.jobs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--database-url", default=os.environ.get(
        "QUORRA_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/quorra_bench"))
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    with server(args.database_url, args.redis_url) as (target, pid):
        rates = []
        for round_ in range(1, args.rounds + 1):
            rate, client_us, server_us = run_once(target, pid, args.database_url, args)
            rates.append(rate)
            print(f"round {round_}: {rate:,.0f} jobs/s; CPU per job: client {client_us:.0f} us,"
                  f" server {server_us:.0f} us")
    mode = "redis" if args.redis_url else "postgres-only"
    print(f"enqueue_many {args.jobs} jobs, batch {args.batch_size}, {args.concurrency} in flight,"
          f" {mode}: median {statistics.median(rates):,.0f} jobs/s over {args.rounds} runs")


if __name__ == "__main__":
    main()
