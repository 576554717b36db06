"""Drain: pre-enqueue N no-op jobs, then start W ``quorra-worker`` processes and time how fast
they empty the queue. Scaling: W = 1, 2, 4, 8, and 1 vs 2 server processes.

Outcome checked outside Quorra: every worker writes down each job it ran; the union must be
exactly the N jobs, each once, and PostgreSQL must hold N succeeded rows. The rate is
N / (last job start - first job start), both from the workers' clocks.

    python bench/drain.py [--rounds 3] [--jobs 20000] [--workers 1,2,4,8] [--max-jobs 100]
                          [--redis [--leases grant|stream]]
"""

from __future__ import annotations

import argparse

import harness as h


def drain_once(jobs: int, n_workers: int, max_jobs: int, servers: int, redis: bool,
               variant: tuple[str, ...] = (), leases: str = "grant") -> dict[str, float]:
    h.reset_jobs()
    if redis:
        h.reset_redis()
    before = h.db_counters()  # costs per job cover its whole life: enqueue, lease, ack
    memory = [h.redis_memory_kib()] if redis else []  # before, with the backlog, drained
    extra = {"QUORRA_REDIS_LEASES": leases} if redis else {}
    with h.quorra_server(processes=servers, redis=redis, variant=variant, log=h.server_log(),
                         **extra) as srv:
        h.enqueue_batches(srv.url, jobs)
        if h.count_jobs("pending") != jobs:
            raise SystemExit("pre-enqueue did not store every job")
        memory += [h.redis_memory_kib()] if redis else []
        rss0 = srv.rss_kib()
        cpu0 = srv.cpu_seconds()
        services0 = h.services_cpu()
        with h.workers(n_workers, srv.grpc, max_jobs=max_jobs) as (_, tallies):
            h.wait_drained(deadline=300)
            cpu1 = srv.cpu_seconds()
            services1 = h.services_cpu()
            rss1 = srv.rss_kib()
        memory += [h.redis_memory_kib()] if redis else []
        tally = h.read_tallies(tallies)
    h.settle_stats()
    after = h.db_counters()
    if len(tally.ids) != jobs or tally.duplicates or h.count_jobs("succeeded") != jobs:
        raise SystemExit(f"drain: workers ran {len(tally.ids)} ({tally.duplicates} twice), "
                         f"expected each of {jobs} once")
    span = max(tally.started) - min(tally.started)
    return {"jobs_per_s": jobs / span if span > 0 else float("nan"), "seconds": span,
            "server_cpu_us_per_job": 1e6 * (cpu1 - cpu0) / jobs,
            **{f"{name}_cpu_us_per_job": 1e6 * (services1[name] - services0[name]) / jobs
               for name in services0},
            "rss_before_mib": rss0 / 1024, "rss_after_mib": rss1 / 1024,
            "xact_per_job": (after["xact_commit"] - before["xact_commit"]) / jobs,
            "tuples_per_job": (after["tuples"] - before["tuples"]) / jobs,
            **({"redis_before_mib": memory[0] / 1024, "redis_backlog_mib": memory[1] / 1024,
                "redis_after_mib": memory[2] / 1024} if memory else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--workers", default="2,1,4,8")
    parser.add_argument("--servers", default="1,2", help="server processes to try with 2 workers")
    parser.add_argument("--max-jobs", type=int, default=100, help="concurrency per worker")
    parser.add_argument("--redis", action="store_true", help="Redis dispatch mode")
    parser.add_argument("--leases", choices=["grant", "stream"], default="grant",
                        help="Redis mode's lease path (QUORRA_REDIS_LEASES)")
    parser.add_argument("--variant", default="",
                        help="also run 2 workers against bench/variant_server.py with these "
                             "flags, e.g. --no-group-commit, for a same-run ratio")
    args = parser.parse_args()
    mode = ("redis" if args.leases == "grant" else "redis_stream") if args.redis else "postgres"
    cases = [(int(w), 1) for w in args.workers.split(",")]
    cases += [(2, int(s)) for s in args.servers.split(",") if int(s) != 1]
    variant = tuple(args.variant.split()) if args.variant else ()
    if variant:
        cases.append((2, 0))  # 0: one server process running the variant
    runs: dict[str, list[dict[str, float]]] = {}
    for round_no in range(1, args.rounds + 1):
        for n_workers, servers in cases:
            name = f"{n_workers}w_{servers}s" if servers else f"2w_{args.variant.strip('-')}"
            result = drain_once(args.jobs, n_workers, args.max_jobs, max(servers, 1),
                                args.redis, variant if not servers else (), args.leases)
            runs.setdefault(name, []).append(result)
            h.log(f"round {round_no} {mode} drain {name}: {result['jobs_per_s']:.0f} jobs/s "
                  f"({result['seconds']:.1f}s), server CPU {result['server_cpu_us_per_job']:.0f}"
                  f" us/job, xact/job {result['xact_per_job']:.3f}, PostgreSQL "
                  f"{result['postgres_cpu_us_per_job']:.0f}, Redis "
                  f"{result['redis_cpu_us_per_job']:.0f}, box {result['box_cpu_us_per_job']:.0f}"
                  " us/job")
    summary = {name: {k: h.median([r[k] for r in rs]) for k in rs[0]} for name, rs in runs.items()}
    h.log(f"\n{mode} drain, medians of {args.rounds} rounds ({args.jobs} jobs, "
          f"{args.max_jobs} concurrent per worker):")
    for name, s in summary.items():
        h.log(f"  {name:6} {s['jobs_per_s']:8.0f} jobs/s  server CPU "
              f"{s['server_cpu_us_per_job']:.0f} us/job  PostgreSQL "
              f"{s['postgres_cpu_us_per_job']:.0f}  Redis {s['redis_cpu_us_per_job']:.0f}  box "
              f"{s['box_cpu_us_per_job']:.0f}  xact/job {s['xact_per_job']:.3f}  "
              f"tuples/job {s['tuples_per_job']:.2f}  RSS {s['rss_before_mib']:.0f}->"
              f"{s['rss_after_mib']:.0f} MiB"
              + (f"  Redis {s['redis_before_mib']:.1f}->{s['redis_backlog_mib']:.1f}->"
                 f"{s['redis_after_mib']:.1f} MiB" if "redis_before_mib" in s else ""))
    h.save(f"drain_{mode}", {"jobs": args.jobs, "rounds": args.rounds, "mode": mode,
                             "max_jobs": args.max_jobs, "summary": summary, "runs": runs})


if __name__ == "__main__":
    main()
