"""REST enqueue: single jobs at 16 and 64 clients, batches of 100 and 1,000, in Postgres-only
and in Redis mode (where each committed job is also proposed in Redis), against the bare
Litestar baseline and with group commit off, all interleaved round by round so that ratios
come from the same minute of a noisy machine.

Every Quorra run starts a fresh ``quorra-server`` on an empty job table, and its outcome is
checked in PostgreSQL: committed rows must equal the 201s counted by the load generator.
Costs per job (transactions, tuples written) come from ``pg_stat_database`` /
``pg_stat_user_tables`` deltas around the whole server lifetime.

    python bench/rest_enqueue.py [--rounds 3] [--jobs 20000] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

import harness as h

KEY = f"x-api-key: {h.API_KEY}"


def bodies() -> dict[str, Any]:
    return {
        "one": h.write_body("one", h.job_body()),
        "batch100": h.write_body("batch100", {"jobs": [h.job_body(i) for i in range(100)]}),
        "batch1000": h.write_body("batch1000", {"jobs": [h.job_body(i) for i in range(1000)]}),
    }


# name -> (server kind, processes, variant, path, body, jobs per request, clients)
WORKLOADS: dict[str, tuple[str, int, tuple[str, ...], str, str, int, int]] = {
    "bare_c16": ("bare", 1, (), "/v1/jobs", "one", 1, 16),
    "bare_c64": ("bare", 1, (), "/v1/jobs", "one", 1, 64),
    "single_c16": ("quorra", 1, (), "/v1/jobs", "one", 1, 16),
    "single_c64": ("quorra", 1, (), "/v1/jobs", "one", 1, 64),
    "single_c64_2proc": ("quorra", 2, (), "/v1/jobs", "one", 1, 64),
    "single_c64_nogc": ("quorra", 1, ("--no-group-commit",), "/v1/jobs", "one", 1, 64),
    "single_c64_asyncio": ("quorra", 1, ("--asyncio",), "/v1/jobs", "one", 1, 64),
    "batch100": ("quorra", 1, (), "/v1/jobs/batch", "batch100", 100, 8),
    "batch1000": ("quorra", 1, (), "/v1/jobs/batch", "batch1000", 1000, 4),
    "redis_single_c16": ("redis", 1, (), "/v1/jobs", "one", 1, 16),
    "redis_single_c64": ("redis", 1, (), "/v1/jobs", "one", 1, 64),
    "redis_single_c64_2proc": ("redis", 2, (), "/v1/jobs", "one", 1, 64),
    "redis_batch100": ("redis", 1, (), "/v1/jobs/batch", "batch100", 100, 8),
    "redis_batch1000": ("redis", 1, (), "/v1/jobs/batch", "batch1000", 1000, 4),
}

RATIOS: dict[str, tuple[str, str]] = {
    "single_c64 / bare_c64": ("single_c64", "bare_c64"),
    "single_c64_2proc / bare_c64": ("single_c64_2proc", "bare_c64"),
    "single_c16 / bare_c16": ("single_c16", "bare_c16"),
    "redis_single_c64 / bare_c64": ("redis_single_c64", "bare_c64"),
    "redis_single_c64_2proc / bare_c64": ("redis_single_c64_2proc", "bare_c64"),
    "group commit on / off (c64)": ("single_c64", "single_c64_nogc"),
    "uvloop / asyncio loop (c64)": ("single_c64", "single_c64_asyncio"),
}


@contextlib.contextmanager
def server(kind: str, processes: int, variant: tuple[str, ...]) -> Iterator[h.Procs]:
    if kind == "bare":
        with h.bare_server() as procs:
            yield procs
    else:
        with h.quorra_server(processes=processes, variant=variant,
                             redis=kind == "redis") as procs:
            yield procs


def run_one(name: str, jobs: int, paths: dict[str, Any]) -> dict[str, float]:
    kind, processes, variant, path, body, per_request, clients = WORKLOADS[name]
    requests = max(jobs // per_request, clients)
    quorra = kind != "bare"
    if kind == "redis":
        h.reset_redis()
    if quorra:
        h.reset_jobs()
        before = h.db_counters()
    with server(kind, processes, variant) as procs:
        rss0 = procs.rss_kib()
        cpu0 = procs.cpu_seconds()
        run = h.h2load(procs.url + path, requests=requests, clients=clients, body=paths[body],
                       headers=[KEY] if quorra else [])
        rss1 = procs.rss_kib()
        cpu1 = procs.cpu_seconds()
    done = run["ok"] * per_request
    result = {"jobs_per_s": done / run["seconds"], "req_per_s": run["req_per_s"],
              "mean_ms": run.get("mean_ms", 0.0), "errors": run["non_2xx"] + run["failed"],
              "rss_before_mib": rss0 / 1024, "rss_after_mib": rss1 / 1024,
              "server_cpu_us_per_job": 1e6 * (cpu1 - cpu0) / max(done, 1)}
    if quorra:
        h.settle_stats()
        after = h.db_counters()
        rows = h.count_jobs()
        if rows != done:
            raise SystemExit(f"{name}: {rows} rows in PostgreSQL but {done} jobs acknowledged")
        result["rows"] = rows
        result["xact_per_job"] = (after["xact_commit"] - before["xact_commit"]) / max(done, 1)
        result["tuples_per_job"] = (after["tuples"] - before["tuples"]) / max(done, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--only", default="", help="comma-separated workload names")
    args = parser.parse_args()
    names = [n for n in WORKLOADS if not args.only or n in args.only.split(",")]
    paths = bodies()
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    ratios: dict[str, list[float]] = {r: [] for r in RATIOS}
    for round_no in range(1, args.rounds + 1):
        this: dict[str, float] = {}
        for name in names:
            result = run_one(name, args.jobs, paths)
            runs[name].append(result)
            this[name] = result["jobs_per_s"]
            h.log(f"round {round_no} {name:18} {result['jobs_per_s']:9.0f} jobs/s  "
                  f"mean {result['mean_ms']:6.1f} ms  "
                  + (f"xact/job {result['xact_per_job']:.3f}" if "xact_per_job" in result
                     else ""))
        for label, (a, b) in RATIOS.items():
            if a in this and b in this:
                ratios[label].append(this[a] / this[b])
    summary: dict[str, dict[str, float]] = {}
    for name, results in runs.items():
        summary[name] = {key: h.median([r[key] for r in results]) for key in results[0]}
        summary[name]["runs"] = len(results)
    ratio_summary = {label: h.median(values) for label, values in ratios.items() if values}
    h.log(f"\nmedians of {args.rounds} rounds ({args.jobs} jobs per run):")
    for name, s in summary.items():
        h.log(f"  {name:18} {s['jobs_per_s']:9.0f} jobs/s  server RSS "
              f"{s['rss_before_mib']:.0f}->{s['rss_after_mib']:.0f} MiB  "
              f"CPU {s['server_cpu_us_per_job']:.0f} us/job"
              + (f"  xact/job {s['xact_per_job']:.4f}  tuples/job {s['tuples_per_job']:.2f}"
                 if "xact_per_job" in s else ""))
    h.log("same-run ratios (median over rounds):")
    for label, value in ratio_summary.items():
        h.log(f"  {label:30} {value:.2f}")
    h.save("rest_enqueue", {"jobs": args.jobs, "rounds": args.rounds, "summary": summary,
                            "ratios": ratio_summary, "runs": runs,
                            "ratio_runs": {k: v for k, v in ratios.items() if v}})


if __name__ == "__main__":
    main()
