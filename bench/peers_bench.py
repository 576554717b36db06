"""Quorra beside the other Python job queues, running the same job bodies (``make bench-peers``).

    python bench/peers_bench.py [--jobs 10000] [--rounds 3] [--systems quorra-redis,huey,...]
                                [--bodies sync_incr,async_incr,async_sleep,empty]

For each round, body and system (rounds interleaved, so other load on the box spreads over all
systems): empty the system's queue, prefill N jobs with no worker running, start its 2
job-executing worker processes, wait until the bodies counted N runs (bounded by ``--cap``
seconds from the first job), stop the workers. The rate comes from the bodies' own timestamps
(``bench/job_bodies.py``), never from the library. CPU: the worker processes' trees (from
/proc), Quorra's server, and the Redis and PostgreSQL servers (whole servers: noisy).

Writes ``bench/results/peers.json`` (every drain) and ``bench/results/peers.md`` (medians).
Bodies (rows): ``sync_incr``, ``async_incr``, ``async_sleep``, ``sync_cpu``, ``empty`` (the
floor).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from typing import Any

import harness as h
import job_bodies as jb
import peer_systems as ps
import psycopg
import redis
from psycopg import sql
from worker_procs import WorkerGroup, cpu_of

LOGS = h.RESULTS / "peers-logs"
ROW_LABEL = {
    "sync_incr": "`def`: one sync Redis INCR",
    "async_incr": "`async def`: one `redis.asyncio` INCR",
    "async_sleep": "`async def`: `asyncio.sleep(0.01)`, 1,000 in flight",
    "sync_cpu": "`def`: ~1 ms of pure-Python CPU",
    "empty": "empty handler (floor)",
}


class Counter:
    def __init__(self, url: str) -> None:
        self.r = redis.Redis.from_url(url)

    def reset(self) -> None:
        self.r.delete(*jb.KEYS)

    def count(self) -> int:
        return int(self.r.get(jb.K_COUNT) or 0)

    def marks(self) -> list[tuple[int, float]]:
        out = []
        for raw in self.r.lrange(jb.K_MARKS, 0, -1):
            count, ts = (raw.decode() if isinstance(raw, bytes) else raw).split(":", 1)
            out.append((int(count), float(ts)))
        return out

    def firsts(self) -> list[float]:
        return [float(v) for v in self.r.hgetall(jb.K_FIRST).values()]

    def redis_cpu(self) -> float:
        info = self.r.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def drain(system: ps.System, body: str, n: int, cap: float, boot_cap: float,
          counter: Counter) -> dict[str, Any]:
    counter.reset()
    system.reset()
    out: dict[str, Any] = {"system": system.key, "body": body}
    with system.running(LOGS / f"{system.key}-server.log"):
        t0 = time.monotonic()
        system.prefill(body, n)
        out["prefill_s"] = round(time.monotonic() - t0, 2)
        cmds = system.workers(body)
        for _, e in cmds:
            e["QUORRA_PEERS_N"] = str(n)
        # each command may carry its own environment: start them one by one
        groups = [WorkerGroup([cmd], e, LOGS / f"{system.key}-{body}.log",
                              stop_signal=system.stop_signal) for cmd, e in cmds]
        pg0, redis0 = cpu_of("postgres"), counter.redis_cpu()
        spawned = time.time()
        try:
            for g in groups:
                g.start()
            first_seen: tuple[float, float, float] | None = None  # worker, server CPU, time
            boot_deadline = time.monotonic() + boot_cap
            deadline = None
            count = 0
            while True:
                # an outside poll, bounded by the deadlines below (fast until the first job)
                time.sleep(0.02 if first_seen else 0.003)
                count = counter.count()
                if count and first_seen is None:
                    first_seen = (sum(g.cpu() for g in groups), system.server_cpu(), time.time())
                    deadline = time.monotonic() + cap
                if count >= n:
                    break
                dead = [pid for g in groups for pid in g.exited()]
                if dead:
                    out["error"] = f"worker process(es) {dead} exited early"
                    break
                if first_seen is None and time.monotonic() > boot_deadline:
                    out["error"] = f"no job ran within {boot_cap:.0f}s"
                    break
                if deadline is not None and time.monotonic() > deadline:
                    out["capped"] = True
                    break
            observed = time.time()
            worker_cpu, server_cpu = sum(g.cpu() for g in groups), system.server_cpu()
            pg_cpu, redis_cpu = cpu_of("postgres") - pg0, counter.redis_cpu() - redis0
        finally:
            for g in groups:
                g.stop()
    if first_seen is None:
        return out
    marks, firsts = counter.marks(), counter.firsts()
    if count >= n:  # the body that reached N appends its mark just after counting
        end = time.monotonic() + 2
        while not any(c >= n for c, _ in marks) and time.monotonic() < end:
            time.sleep(0.02)
            marks = counter.marks()
    done = count if out.get("capped") else max((c for c, _ in marks), default=count)
    first = min(firsts) if firsts else min(t for _, t in marks)
    last = observed if out.get("capped") else max(t for _, t in marks)
    span = max(last - first, 1e-9)
    jobs = max(done - 1, 1)
    out.update({
        "jobs": done,
        "rate": round(jobs / span, 1),
        "secs": round(span, 3),
        "boot_s": round(first - spawned, 2),
        "processes_ran_jobs": len(firsts),
        "worker_cpu_us_per_job": round((worker_cpu - first_seen[0]) / jobs * 1e6, 1),
        "server_cpu_us_per_job": round((server_cpu - first_seen[1]) / jobs * 1e6, 1),
        "postgres_cpu_us_per_job": round(pg_cpu / jobs * 1e6, 1),
        "redis_cpu_us_per_job": round(redis_cpu / jobs * 1e6, 1),
        "final_count": counter.count(),
    })
    if out["final_count"] > n:
        out["extra_runs"] = out["final_count"] - n
    return out


def latency(system: ps.System, n: int, rate: float, boot_cap: float,
            counter: Counter) -> dict[str, Any]:
    """Workers running and warm (one second of jobs at ``rate``, so every worker process has
    made its connections, then 1 s idle), then ``n`` jobs offered at ``rate`` per second, one
    enqueue call each; each body notes handler start − send time."""
    counter.reset()
    system.reset()
    out: dict[str, Any] = {"system": system.key, "body": "latency"}
    with system.running(LOGS / f"{system.key}-server.log"):
        groups = [WorkerGroup([cmd], e, LOGS / f"{system.key}-latency.log",
                              stop_signal=system.stop_signal)
                  for cmd, e in system.workers("latency")]
        try:
            for g in groups:
                g.start()
            system.enqueue_paced(1, rate)
            if not _ran(counter, 1, boot_cap):
                out["error"] = f"the probe job did not run within {boot_cap:.0f}s"
                return out
            warm = max(20, round(rate))
            system.enqueue_paced(warm, rate)
            _ran(counter, 1 + warm, 20)
            time.sleep(1)
            counter.r.delete(jb.K_LAT)
            t0 = time.monotonic()
            sent = system.enqueue_paced(n, rate)
            out["offered_per_s"] = round(sent / (time.monotonic() - t0), 1)
            _ran(counter, sent, 20)
        finally:
            for g in groups:
                g.stop()
    samples = sorted(float(x) * 1000 for x in counter.r.lrange(jb.K_LAT, 0, -1))
    out.update(sent=sent, got=len(samples))
    if samples:
        out.update(p50_ms=round(h.percentile(samples, 50), 2),
                   p99_ms=round(h.percentile(samples, 99), 2),
                   p999_ms=round(h.percentile(samples, 99.9), 2),
                   max_ms=round(samples[-1], 2))
    return out


def _ran(counter: Counter, count: int, cap: float) -> bool:
    """Wait (at most ``cap`` seconds) until the bodies noted ``count`` latencies."""
    end = time.monotonic() + cap
    while counter.r.llen(jb.K_LAT) < count:
        if time.monotonic() > end:
            return False
        time.sleep(0.02)  # bounded by the cap
    return True


def prepare_databases() -> None:
    for url in ps.DATABASES:
        base, _, name = url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (name,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_databases() -> None:
    for url in ps.DATABASES:
        base, _, name = url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(name)))


def medians(runs: list[dict[str, Any]], field: str) -> dict[tuple[str, str], float]:
    values: dict[tuple[str, str], list[float]] = {}
    for run in runs:
        if field in run and "error" not in run:
            values.setdefault((run["system"], run["row"]), []).append(run[field])
    return {k: statistics.median(v) for k, v in values.items()}


def table(runs: list[dict[str, Any]], systems: list[ps.System], rows: list[str], field: str,
          fmt: str) -> str:
    med = medians(runs, field)
    capped = {(r["system"], r["row"]) for r in runs if r.get("capped")}
    failed = {(r["system"], r["row"]) for r in runs if "error" in r}
    head = "| job body (the same code for every system) | " + \
        " | ".join(s.label for s in systems) + " |"
    lines = [head, "|---|" + "---:|" * len(systems)]
    for row in rows:
        cells = []
        for s in systems:
            key = (s.key, row)
            if row not in s.bodies:
                cells.append("—")
            elif key in med:
                cells.append(format(med[key], fmt) + ("*" if key in capped else ""))
            else:
                cells.append("failed" if key in failed else "")
        lines.append(f"| {ROW_LABEL[row]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(result: dict[str, Any], systems: list[ps.System], rows: list[str]) -> str:
    runs = result["runs"]
    shapes = "\n".join(
        f"- **{s.label}**: " + "; ".join(
            f"{row}: {s.shape(s.bodies[row])}" for row in rows if row in s.bodies)
        for s in systems)
    return (
        f"## Drain rate, jobs/s (median of {result['rounds']} rounds, {result['jobs']:,} jobs "
        f"prefilled, 2 worker processes per system)\n\n"
        f"{table(runs, systems, rows, 'rate', ',.0f')}\n\n"
        "Rate = (N − 1) / (last job's timestamp − first job's timestamp), from the job bodies' "
        "own clocks; completion counted in Redis by the bodies, never by the library. "
        "— = the library has no way to run that body (no `async def` tasks); "
        "* = at least one round hit the time cap.\n\n"
        + latency_table(result, systems) +
        "## Worker CPU per job, µs (worker process trees; Quorra's server in brackets)\n\n"
        f"{cpu_table(runs, systems, rows)}\n\n"
        f"## Worker shapes\n\n{shapes}\n\n"
        f"Box: {result['machine']}; {result['at']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in sorted(result["versions"].items())) + ".\n")


def latency_table(result: dict[str, Any], systems: list[ps.System]) -> str:
    runs = result["runs"]
    p50, p99, p999 = (medians(runs, key) for key in ("p50_ms", "p99_ms", "p999_ms"))
    rates = result.get("latency_rates", [])
    if not p50:
        return ""
    lines = ["| offered rate | " + " | ".join(s.label for s in systems) + " |",
             "|---|" + "---:|" * len(systems)]
    for rate in rates:
        row = latency_row(rate)
        cells = [f"{p50[(s.key, row)]:.2f} / {p99[(s.key, row)]:.2f} / {p999[(s.key, row)]:.2f}"
                 if (s.key, row) in p50 else "failed" for s in systems]
        lines.append(f"| {rate:,.0f} jobs/s | " + " | ".join(cells) + " |")
    return (f"## Enqueue → handler start, ms (p50 / p99 / p99.9, median of rounds; "
            f"{result['latency_jobs']:,} jobs offered at each rate to idle, warmed-up workers, "
            "one enqueue call each; the body appends its latency with one Redis call)\n\n"
            + "\n".join(lines) + "\n\n")


def latency_row(rate: float) -> str:
    return f"latency@{rate:g}"


def cpu_table(runs: list[dict[str, Any]], systems: list[ps.System], rows: list[str]) -> str:
    worker = medians(runs, "worker_cpu_us_per_job")
    server = medians(runs, "server_cpu_us_per_job")
    lines = ["| job body | " + " | ".join(s.label for s in systems) + " |",
             "|---|" + "---:|" * len(systems)]
    for row in rows:
        cells = []
        for s in systems:
            key = (s.key, row)
            if key not in worker:
                cells.append("—" if row not in s.bodies else "")
            elif isinstance(s, ps.Quorra):
                cells.append(f"{worker[key]:,.0f} (+{server.get(key, 0):,.0f})")
            else:
                cells.append(f"{worker[key]:,.0f}")
        lines.append(f"| {ROW_LABEL[row]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latency_round(s: ps.System, rate: float, rnd: int, args: argparse.Namespace,
                  counter: Counter) -> dict[str, Any]:
    try:
        run = latency(s, args.latency_jobs, rate, args.boot_cap, counter)
    except Exception as exc:  # one system failing must not lose the others
        run = {"system": s.key, "body": "latency", "error": repr(exc)}
    run.update(row=latency_row(rate), round=rnd, rate_offered=rate)
    h.log(f"round {rnd} latency@{rate:<6g}{s.label:15} "
          + (f"p50 {run['p50_ms']:.2f} ms  p99 {run['p99_ms']:.2f} ms  p99.9 "
             f"{run['p999_ms']:.2f} ms ({run['got']}/{run['sent']})" if "p50_ms" in run else "")
          + (f"  ERROR {run['error']}" if "error" in run else ""))
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    every = ps.all_systems()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--systems", default=",".join(every),
                        help=f"comma list of {', '.join(every)}")
    parser.add_argument("--bodies", default="sync_incr,async_incr,async_sleep,sync_cpu,empty",
                        help=f"comma list of {', '.join(ps.ROWS)}")
    parser.add_argument("--cap", type=float, default=120.0,
                        help="seconds per drain, from the first job")
    parser.add_argument("--boot-cap", type=float, default=60.0)
    parser.add_argument("--latency", action="store_true",
                        help="also enqueue -> handler start latency at --latency-rates jobs/s")
    parser.add_argument("--latency-rates", default="200,1000",
                        help="offered rates, jobs/s, comma-separated")
    parser.add_argument("--latency-jobs", type=int, default=2000)
    parser.add_argument("--keep-databases", action="store_true")
    parser.add_argument("--out", default="peers")
    args = parser.parse_args()
    systems = [every[k] for k in args.systems.split(",")]
    rows = [r for r in args.bodies.split(",") if r]  # "": latency only
    rates = [float(r) for r in args.latency_rates.split(",") if r]
    for row in rows:
        if row not in ps.ROWS:
            parser.error(f"unknown body {row!r}")
    counter = Counter(ps.redis_url(ps.DB_COUNTER))
    prepare_databases()
    runs: list[dict[str, Any]] = []
    result: dict[str, Any] = {"jobs": args.jobs, "rounds": args.rounds, "runs": runs,
                              "latency_jobs": args.latency_jobs,
                              "latency_rates": rates,
                              "python": platform.python_version(), "versions": {}}
    for s in systems:
        result["versions"].update(s.versions())
    started = time.time()
    try:
        for s in systems:
            s.setup()
        for rnd in range(1, args.rounds + 1):
            for row in rows:
                for s in systems:
                    if row not in s.bodies:
                        continue
                    body = s.bodies[row]
                    try:
                        run = drain(s, body, args.jobs, args.cap, args.boot_cap, counter)
                    except Exception as exc:  # one system failing must not lose the others
                        run = {"system": s.key, "body": body, "error": repr(exc)}
                    run.update(row=row, round=rnd)
                    runs.append(run)
                    h.log(f"round {rnd} {row:11} {s.label:15} "
                          + (f"{run['rate']:>9,.0f} jobs/s  worker "
                             f"{run['worker_cpu_us_per_job']:,.0f} µs/job" if "rate" in run else "")
                          + (f"  CAPPED at {run['jobs']}" if run.get("capped") else "")
                          + (f"  ERROR {run['error']}" if "error" in run else ""))
            if args.latency:
                for rate in rates:
                    for s in systems:
                        runs.append(latency_round(s, rate, rnd, args, counter))
    finally:
        for s in systems:
            with contextlib.suppress(Exception):
                s.reset()
            with contextlib.suppress(Exception):
                s.teardown()
        counter.reset()
        if not args.keep_databases:
            drop_databases()
    result["wall_s"] = round(time.time() - started, 1)
    result["at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result["machine"] = (f"{os.cpu_count()} cores, Python {platform.python_version()}, "
                         "shared with other work")
    result["shapes"] = {s.key: {row: s.shape(s.bodies[row]) for row in rows if row in s.bodies}
                        for s in systems}
    h.RESULTS.mkdir(parents=True, exist_ok=True)
    (h.RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=1))
    text = report(result, systems, rows)
    (h.RESULTS / f"{args.out}.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
