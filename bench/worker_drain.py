"""Worker-path figures against a real quorra-server and real worker processes.

    DATABASE_URL=postgresql://…/scratch_db .venv/bin/python bench/worker_drain.py [N] [RUNS]

Empties ``quorra_jobs`` in that database (use a scratch one). Prints, as medians of RUNS:
- drain rate of N no-op jobs with 2 worker processes, over the batched Session (quorra-worker)
  and over LeaseJobs(follow) + one unary AckJob per job (bench/unary_worker.py); the time is
  from the first lease to the last settlement, read from the jobs' own timestamps;
- enqueue → handler-start latency with idle workers (p50/p99 of 200 jobs enqueued one by one).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import msgspec
import psycopg

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KEY = "bench-key-0123456789"
DB = os.environ["DATABASE_URL"]


def port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sql(query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(DB, autocommit=True) as conn:
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else []


def wait_for(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.05)


@contextlib.contextmanager
def processes(
    *commands: tuple[list[str], dict[str, str]],
) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for cmd, env in commands]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("QUORRA_")}
    base.update(PYTHONPATH=str(ROOT / "bench"), **extra)
    return base


def enqueue(grpc_target: str, jobs: list[pb.JobSpec]) -> None:
    with grpc.insecure_channel(grpc_target) as channel:
        stub = pb_grpc.WorkerServiceStub(channel)
        for start in range(0, len(jobs), 1000):
            stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=jobs[start:start + 1000]),
                             metadata=(("x-api-key", KEY),))


def drain(grpc_target: str, n: int, workers: list[tuple[list[str], dict[str, str]]]) -> float:
    sql("TRUNCATE quorra_jobs")
    enqueue(grpc_target, [pb.JobSpec(type="noop") for _ in range(n)])
    with processes(*workers):
        wait_for(lambda: sql("SELECT count(*) FROM quorra_jobs WHERE status = 'succeeded'")[0][0]
                 == n, 300)
    ((seconds,),) = sql("SELECT extract(epoch FROM max(finished_at) - min(leased_at))::float8 "
                        "FROM quorra_jobs")
    return n / float(seconds)  # type: ignore[arg-type]


def latency(grpc_target: str, worker: tuple[list[str], dict[str, str]]) -> list[float]:
    sql("TRUNCATE quorra_jobs")
    with processes(worker):
        time.sleep(2)  # let the worker connect and go idle
        with grpc.insecure_channel(grpc_target) as channel:
            stub = pb_grpc.WorkerServiceStub(channel)
            for _ in range(200):
                payload = msgspec.json.encode({"t0": time.time()})
                stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[pb.JobSpec(type="latency",
                                                                        payload=payload)]),
                                 metadata=(("x-api-key", KEY),))
                time.sleep(0.02)
        wait_for(lambda: sql("SELECT count(*) FROM quorra_jobs WHERE status = 'succeeded'")[0][0]
                 == 200, 60)
    return sorted(float(r[0]) for r in sql("SELECT result::float8 FROM quorra_jobs"))  # type: ignore[arg-type]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    http, rpc = port(), port()
    target = f"127.0.0.1:{rpc}"
    server = ([str(BIN / "quorra-server")],
              env(DATABASE_URL=DB, QUORRA_API_KEY=KEY, QUORRA_LOG_LEVEL="warn",
                  QUORRA_HTTP_ADDR=f"127.0.0.1:{http}", QUORRA_GRPC_ADDR=target))
    session = [([str(BIN / "quorra-worker"), "--handlers", "handlers", "--log-level", "warning"],
                env(QUORRA_GRPC_ADDR=target, QUORRA_API_KEY=KEY, QUORRA_WORKER_ID=f"s{i}",
                    QUORRA_WORKER_MAX_JOBS="200")) for i in range(2)]
    unary = [([sys.executable, str(ROOT / "bench" / "unary_worker.py"), target, KEY, "default",
               "200"], env()) for _ in range(2)]
    with processes(server):
        wait_for(lambda: _healthy(http), 30)
        for name, workers in (("session (batched)", session), ("LeaseJobs + AckJob", unary)):
            rates = [drain(target, n, workers) for _ in range(runs)]
            print(f"drain {n} no-op jobs, 2 worker processes, {name}: median "
                  f"{statistics.median(rates):,.0f} jobs/s (runs: "
                  f"{', '.join(f'{r:,.0f}' for r in rates)})")
        samples = latency(target, session[0])
        p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1]
        print(f"enqueue → handler start, idle worker: p50 {p50 * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms ({len(samples)} jobs)")


def _healthy(http: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{http}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
