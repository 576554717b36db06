"""Where each job's CPU goes, per process, on a private PostgreSQL and a private redis-server
(so nothing else on the box is counted): Quorra in both modes drains the peer comparison's
bodies (``job_bodies.py``), and the budget is read from /proc for the worker processes, the
server, the whole PostgreSQL cluster and redis-server, plus the body's own cost measured alone
in one process.

    python bench/cpu_budget.py [--jobs 20000] [--rounds 3] [--bodies sync_incr,async_incr,empty]

Writes ``results/cpu_budget.md`` and ``.json``; not run in CI.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.private_postgres import PrivatePostgres  # noqa: E402
from tests.support import free_port, wait_until  # noqa: E402

COLUMNS = ("worker", "server", "postgres", "redis")


@contextmanager
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        wait_until(lambda: _pings(client), timeout=10, what="redis-server")
        yield f"redis://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(10)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def body_alone(body: str, n: int = 5000) -> float:
    """µs of CPU the body costs in one process, outside any queue (its own client)."""
    import job_bodies as jb

    start = time.process_time()
    if body in jb.SYNC:
        for _ in range(n):
            jb.SYNC[body]()
    else:
        async def run() -> None:
            for _ in range(n):
                await jb.ASYNC[body]()

        asyncio.run(run())
    return (time.process_time() - start) / n * 1e6


def budget(rounds: int, jobs: int, bodies: list[str]) -> dict[str, Any]:
    import peer_systems as ps
    import peers_bench as pb

    pb.prepare_databases()
    counter = pb.Counter(ps.redis_url(ps.DB_COUNTER))
    runs: list[dict[str, Any]] = []
    for rnd in range(1, rounds + 1):
        for redis_mode in (False, True):
            system = ps.Quorra(redis_mode)
            for row in bodies:
                body = system.bodies[row]
                out = pb.drain(system, body, jobs, 180, 60, counter)
                out["row"] = row
                runs.append(out)
                print(f"round {rnd} {row:10} {system.label:15} {out.get('rate', 0):>9,.0f} jobs/s  "
                      + "  ".join(f"{c} {out.get(c + '_cpu_us_per_job', 0):.0f}"
                                  for c in COLUMNS), flush=True)
    alone = {row: body_alone(ps.Quorra(False).bodies[row]) for row in bodies}
    return {"runs": runs, "body_alone_us": alone}


def report(result: dict[str, Any]) -> str:
    lines = ["| body | mode | jobs/s | worker | server | PostgreSQL | Redis | total | "
             "body alone |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    keys = sorted({(r["row"], r["system"]) for r in result["runs"] if "rate" in r})
    for row, system in keys:
        runs = [r for r in result["runs"] if (r["row"], r["system"]) == (row, system)]
        cells = [statistics.median(r[c + "_cpu_us_per_job"] for r in runs) for c in COLUMNS]
        rate = statistics.median(r["rate"] for r in runs)
        lines.append(f"| {row} | {system} | {rate:,.0f} | " + " | ".join(f"{c:.0f}" for c in cells)
                     + f" | {sum(cells):.0f} | {result['body_alone_us'][row]:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bodies", default="sync_incr,async_incr,empty")
    args = parser.parse_args()
    with PrivatePostgres() as cluster, private_redis() as (redis_url, _):
        os.environ["QUORRA_PEERS_PG"] = cluster.url.rsplit("/", 1)[0]
        os.environ["QUORRA_PEERS_REDIS"] = redis_url
        os.environ["QUORRA_PEERS_COUNTER_URL"] = f"{redis_url}/6"
        import peers_bench as pb
        import worker_procs

        postmaster = _postmaster(cluster)
        # peers_bench calls cpu_of by the name it imported (not re-exported)
        pb.cpu_of = lambda comm: sum(  # type: ignore[attr-defined]
            st[1] for st in worker_procs.tree([postmaster]).values())
        result = budget(args.rounds, args.jobs, args.bodies.split(","))
    import harness as h

    (h.RESULTS / "cpu_budget.json").write_text(json.dumps(result, indent=2))
    text = report(result)
    (h.RESULTS / "cpu_budget.md").write_text(text)
    print(text)


def _postmaster(cluster: PrivatePostgres) -> int:
    pid_file = cluster.data / "postmaster.pid"
    return int(pid_file.read_text().split()[0])


if __name__ == "__main__":
    main()
