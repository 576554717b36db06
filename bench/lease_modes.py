"""Drain in the three lease paths side by side: Postgres-only, Redis with PostgreSQL granting
each lease (``QUORRA_REDIS_LEASES=grant``) and Redis with leases held in Redis (``stream``).
Rounds interleave the modes, so each round's ratios come from the same minute of a shared box.

    python bench/lease_modes.py [--rounds 3] [--jobs 10000] [--workers 2] [--max-jobs 100]

Per mode, medians of the rounds: jobs/s (first to last job start, workers' clocks), PostgreSQL
row writes per job (``pg_stat_user_tables`` n_tup_ins + n_tup_upd + n_tup_del over the whole
life of the jobs: enqueue, lease, outcome) and commits per job.
"""

from __future__ import annotations

import argparse

import harness as h
from drain import drain_once

MODES = {"postgres": (False, "grant"), "redis-grant": (True, "grant"),
         "redis-stream": (True, "stream")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-jobs", type=int, default=100)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in MODES}
    for round_no in range(1, args.rounds + 1):
        for name, (redis, leases) in MODES.items():
            result = drain_once(args.jobs, args.workers, args.max_jobs, 1, redis, leases=leases)
            runs[name].append(result)
            h.log(f"round {round_no} {name}: {result['jobs_per_s']:.0f} jobs/s, row writes/job "
                  f"{result['tuples_per_job']:.2f}, commits/job {result['xact_per_job']:.3f}, "
                  f"server CPU {result['server_cpu_us_per_job']:.0f} us/job")
    h.log(f"\nmedians of {args.rounds} rounds ({args.jobs} no-op jobs, {args.workers} workers x "
          f"{args.max_jobs}):")
    base = [r["jobs_per_s"] for r in runs["postgres"]]
    for name, rs in runs.items():
        ratio = h.median([r["jobs_per_s"] / b for r, b in zip(rs, base, strict=True)])
        h.log(f"  {name:13} {h.median([r['jobs_per_s'] for r in rs]):8.0f} jobs/s "
              f"({ratio:.2f}x Postgres-only, same-round)  row writes/job "
              f"{h.median([r['tuples_per_job'] for r in rs]):.2f}  commits/job "
              f"{h.median([r['xact_per_job'] for r in rs]):.3f}  server CPU "
              f"{h.median([r['server_cpu_us_per_job'] for r in rs]):.0f} us/job")
    h.save("lease_modes", {"jobs": args.jobs, "rounds": args.rounds, "runs": runs})


if __name__ == "__main__":
    main()
