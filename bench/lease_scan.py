"""The Postgres-only lease after many leases and no vacuum, prepared vs planned each time.

Every lease leaves the ready index an entry of a job that is no longer pending. Under the
generic plan of a prepared statement the index scan never marks those entries dead, so each
lease visits all of them until a vacuum; planned each time (what the broker does), it marks
them on first visit and skips them after. Prints the median of 30 leases of 10 ready jobs on a
fresh table and after N leases, for both.

    python bench/lease_scan.py [--leased 60000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from typing import Any

import harness as h

from quorra.broker.postgres.broker import QUERIES


def enqueue(conn: Any, n: int) -> None:
    jobs: list[dict[str, Any]] = [
        {"id": str(uuid.uuid4()), "type": "bench.noop", "queue": "scan", "payload": {},
         "priority": 0, "max_retries": 3, "run_at": None, "delay": 0} for _ in range(n)]
    conn.execute(QUERIES["enqueue"], {"jobs": json.dumps(jobs)}).fetchall()


def lease(conn: Any, limit: int, prepare: bool) -> float:
    params = {"queues": ["scan"], "limit": limit, "worker_id": "bench", "ttl": 30.0,
              "limited": False}
    start = time.perf_counter()
    conn.execute(QUERIES["lease"], params, prepare=prepare).fetchall()
    return time.perf_counter() - start


def probe(conn: Any, prepare: bool) -> float:
    times = []
    for _ in range(30):
        enqueue(conn, 10)
        times.append(lease(conn, 500, prepare))
    return 1000 * statistics.median(times)


def measure(leased: int, prepare: bool) -> dict[str, float]:
    h.reset_jobs()
    with h.pg() as conn:
        fresh = probe(conn, prepare)
        for _ in range(leased // 1000):
            enqueue(conn, 1000)
            lease(conn, 1000, prepare)
        return {"fresh_ms": fresh, "after_ms": probe(conn, prepare)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leased", type=int, default=60000)
    args = parser.parse_args()
    with h.quorra_server():  # migrates the bench database
        pass
    results = {name: measure(args.leased, prepare) for name, prepare in
               (("planned each time", False), ("prepared (generic plan)", True))}
    for name, r in results.items():
        h.log(f"{name:24} lease of 10 ready: fresh {r['fresh_ms']:.2f} ms, after "
              f"{args.leased:,} leases without vacuum {r['after_ms']:.2f} ms")
    h.save("lease_scan", {"leased": args.leased, "results": results})


if __name__ == "__main__":
    main()
