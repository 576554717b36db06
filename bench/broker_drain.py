"""Drain rate, Redis dispatch vs Postgres-only dispatch, on this machine in the same run.

For each mode and run: enqueue N no-op jobs, start 2 lessee processes (8 lease→ack loops each,
calling the broker directly), and time from both processes being ready to the last ack.
Prints each run and the medians. Needs the test Postgres and a Redis URL it may FLUSHDB:

    python -m bench.broker_drain --db postgresql://postgres@127.0.0.1:5432/quorra_bench \\
        --redis redis://127.0.0.1:6379/11 --jobs 10000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import redis

from quorra.core.jobs import JobSpec
from quorra.core.spec import EnqueueRequest, Limits, to_spec
from quorra.db.migrate import apply_migrations
from tests.integration.redis.lessee import open_broker

ROOT = Path(__file__).resolve().parents[1]


def _spec(n: int) -> JobSpec:
    return to_spec(EnqueueRequest(type="noop", payload={"n": n}), Limits())


async def _prepare(db: str, redis_url: str | None, jobs: int) -> None:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        await apply_migrations(conn)
        await conn.execute("TRUNCATE quorra_jobs")
    if redis_url:
        with redis.Redis.from_url(redis_url) as client:
            client.flushdb()
    async with open_broker(db, redis_url) as broker:
        for start in range(0, jobs, 1000):
            await broker.enqueue([_spec(start + i) for i in range(min(1000, jobs - start))])


def _run(db: str, redis_url: str | None, jobs: int) -> float:
    asyncio.run(_prepare(db, redis_url, jobs))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "tests.integration.redis.lessee", "--db", db, "--lessees", "8",
            "--idle", "1.5", "--timeout", "300"]
    if redis_url:
        args += ["--redis", redis_url]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
             for _ in range(2)]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=330)
        results.append(json.loads(out.splitlines()[-1]))
    done = sum(len(r["executed"]) for r in results)
    assert done == jobs, f"{done} executions for {jobs} jobs"
    slowest: float = max(r["seconds"] for r in results)
    return jobs / slowest


def compare_modes(run: Callable[[str, str | None, int], float]) -> None:
    """Parse --db/--redis/--jobs/--runs, alternate Redis and Postgres-only runs of ``run``
    (database, Redis URL or None, jobs) -> jobs/s, and print each rate and the medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"redis": [], "postgres": []}
    for round_ in range(args.runs):
        for mode, url in (("redis", args.redis), ("postgres", None)):
            started = time.monotonic()
            rate = run(args.db, url, args.jobs)
            rates[mode].append(rate)
            print(f"run {round_ + 1} {mode:8s} {rate:8.0f} jobs/s "
                  f"({time.monotonic() - started:.1f}s with setup)", flush=True)
    for mode, values in rates.items():
        print(f"median {mode:8s} {statistics.median(values):8.0f} jobs/s over {len(values)} runs")


def main() -> None:
    compare_modes(_run)

if __name__ == "__main__":
    main()
