"""Scale-out: 1, 2 and 4 ``quorra-server`` processes × 4, 16 and 32 ``quorra-worker``
processes × 100,000 no-op jobs, Postgres-only and Redis mode, on a private PostgreSQL and a
private redis-server (so /proc attributes their CPU to this run alone).

Each case: the servers start (sharing one HTTP and one gRPC port through SO_REUSEPORT), the
queue is paused (made by its first job), N jobs are enqueued, the workers start and connect,
the queue is resumed and the drain is timed from the workers' own clocks (first job start →
last). Exactly-once is counted outside Quorra: the workers' tallies must hold each of the N
jobs once and PostgreSQL N succeeded rows, else the run stops. CPU per job covers the whole job
life (enqueue included) for the servers, PostgreSQL (every process of the cluster) and redis-
server; the workers' from the resume on.

    python bench/scale.py [--jobs 100000] [--rounds 2] [--servers 1,2,4] [--workers 4,16,32]

Writes ``results/scale.json``, ``results/scale.md`` and ``docs/img/bench-scale.png``; not in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cpu_budget import private_redis  # noqa: E402
from worker_procs import tree  # noqa: E402

from tests.integration.private_postgres import PrivatePostgres  # noqa: E402

MODES = ("postgres", "redis")
COLUMNS = ("server", "workers", "postgres", "redis")


def _queue_action(url: str, action: str, api_key: str) -> None:
    req = urllib.request.Request(f"{url}/v1/queues/bench/{action}", data=b"{}", method="POST",
                                 headers={"content-type": "application/json",
                                          "x-api-key": api_key})
    with urllib.request.urlopen(req, timeout=120) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{action} answered {resp.status}")


def _checked(h: Any, tallies: list[Path], jobs: int) -> Any:
    tally = h.read_tallies(tallies)
    succeeded = h.count_jobs("succeeded")
    if len(set(tally.ids)) != jobs or tally.duplicates or succeeded != jobs:
        raise SystemExit(f"scale: workers ran {len(set(tally.ids))} distinct jobs "
                         f"({tally.duplicates} twice), PostgreSQL {succeeded} succeeded; "
                         f"expected each of {jobs} once")
    return tally


def run_case(h: Any, cpu: Callable[[], dict[str, float]], mode: str, servers: int,
             n_workers: int, jobs: int) -> dict[str, float]:
    h.reset_jobs()
    h.reset_redis()
    log = h.RESULTS / "scale-servers.log"
    with h.quorra_server(processes=servers, redis=mode == "redis", log=log) as srv:
        before = {**cpu(), "server": srv.cpu_seconds()}
        h.enqueue_batches(srv.url, 1)  # the queue exists: pause it before the backlog
        _queue_action(srv.url, "pause", h.API_KEY)
        h.enqueue_batches(srv.url, jobs - 1)
        with h.workers(n_workers, srv.grpc, max_jobs=100) as (group, tallies):
            h.wait_workers(group, srv.grpc)
            worker_cpu = group.cpu_seconds()
            _queue_action(srv.url, "resume", h.API_KEY)
            h.wait_drained(deadline=600)
            worker_cpu = group.cpu_seconds() - worker_cpu
            after = {**cpu(), "server": srv.cpu_seconds()}
        tally = _checked(h, tallies, jobs)
    span = max(tally.started) - min(tally.started)
    used = {c: after[c] - before[c] for c in ("server", "postgres", "redis")}
    used["workers"] = worker_cpu
    return {"jobs_per_s": jobs / span, "seconds": span,
            **{f"{c}_cpu_us_per_job": 1e6 * used[c] / jobs for c in COLUMNS}}


def _cpu_reader(postmaster: int, redis_pid: int) -> Callable[[], dict[str, float]]:
    def read() -> dict[str, float]:
        pg = sum(st[1] for st in tree([postmaster]).values())
        rd = sum(st[1] for st in tree([redis_pid]).values())
        return {"postgres": pg, "redis": rd}
    return read


def _durable(cluster: PrivatePostgres) -> None:
    """The test cluster's settings made those of a production server: fsync on, room for 4
    servers' pools, buffers that hold the job table."""
    import psycopg

    with psycopg.connect(cluster.url, autocommit=True) as conn:
        for name, value in (("fsync", "on"), ("full_page_writes", "on"),
                            ("max_connections", "300"), ("shared_buffers", "'512MB'")):
            conn.execute(f"ALTER SYSTEM SET {name} = {value}")
    cluster.restart()


@contextmanager
def private_services() -> Iterator[tuple[Any, Callable[[], dict[str, float]]]]:
    """The private PostgreSQL and redis-server, with ``harness`` pointed at them."""
    with PrivatePostgres() as cluster, private_redis() as (redis_url, redis_proc):
        _durable(cluster)
        os.environ["QUORRA_BENCH_DATABASE_URL"] = cluster.database_url("quorra_bench_scale")
        os.environ["QUORRA_BENCH_REDIS_URL"] = f"{redis_url}/0"
        import harness as h

        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        yield h, _cpu_reader(postmaster, redis_proc.pid)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    servers = [int(s) for s in args.servers.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    runs: list[dict[str, Any]] = []
    with private_services() as (h, cpu):
        for rnd in range(1, args.rounds + 1):
            for mode in args.modes.split(","):  # interleaved: drift spreads over every case
                for s in servers:
                    for w in workers:
                        out = run_case(h, cpu, mode, s, w, args.jobs)
                        runs.append({"round": rnd, "mode": mode, "servers": s, "workers": w,
                                     **out})
                        with (h.RESULTS / "scale-runs.jsonl").open("a") as done:
                            done.write(json.dumps(runs[-1]) + "\n")
                        h.log(f"round {rnd} {mode:8} {s} servers × {w:2} workers: "
                              f"{out['jobs_per_s']:8,.0f} jobs/s  " + "  ".join(
                                  f"{c} {out[c + '_cpu_us_per_job']:.0f}" for c in COLUMNS))
    return {"jobs": args.jobs, "rounds": args.rounds, "runs": runs}


def summary(result: dict[str, Any]) -> list[dict[str, Any]]:
    keys = sorted({(r["mode"], r["servers"], r["workers"]) for r in result["runs"]})
    rows = []
    for mode, s, w in keys:
        runs = [r for r in result["runs"]
                if (r["mode"], r["servers"], r["workers"]) == (mode, s, w)]
        rows.append({"mode": mode, "servers": s, "workers": w,
                     **{k: statistics.median(r[k] for r in runs) for k in runs[0]
                        if k.endswith("per_job") or k == "jobs_per_s"}})
    return rows


def report(rows: list[dict[str, Any]]) -> str:
    lines = ["| mode | servers | workers | jobs/s | server µs/job | workers µs/job | "
             "PostgreSQL µs/job | Redis µs/job |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['servers']} | {r['workers']} | {r['jobs_per_s']:,.0f} | "
                     + " | ".join(f"{r[c + '_cpu_us_per_job']:.0f}" for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, mode in zip(axes, MODES, strict=True):
        for s in sorted({r["servers"] for r in rows}):
            mine = [r for r in rows if r["mode"] == mode and r["servers"] == s]
            ax.plot([r["workers"] for r in mine], [r["jobs_per_s"] for r in mine], marker="o",
                    label=f"{s} server process{'es' if s > 1 else ''}")
        ax.set_title(f"{mode} mode: 100,000 no-op jobs, 2 vCPUs")
        ax.set_xlabel("worker processes (100 slots each)")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("drain, jobs/s")
    axes[0].set_ylim(bottom=0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--servers", default="1,2,4")
    parser.add_argument("--workers", default="4,16,32")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--report-only", action="store_true",
                        help="table and plot from results/scale-runs.jsonl (runs kept as made)")
    args = parser.parse_args()
    started = time.time()
    out = ROOT / "bench" / "results"
    if args.report_only:
        lines = (out / "scale-runs.jsonl").read_text().splitlines()
        result = {"jobs": args.jobs, "rounds": args.rounds,
                  "runs": [json.loads(line) for line in lines]}
    else:
        result = measure(args)
    rows = summary(result)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps({**result, "summary": rows,
                                                "started": started}, indent=2))
    text = report(rows)
    (out / "scale.md").write_text(text)
    plot(rows, ROOT / "docs" / "img" / "bench-scale.png")
    print(text)


if __name__ == "__main__":
    main()
