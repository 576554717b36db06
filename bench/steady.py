"""Steady state: a paced producer and 2 ``quorra-worker`` processes together, at 200 and
1,000 jobs/s and at the maximum the system sustains (one producer connection sending as fast as
it can while fewer than 5,000 jobs wait: see producer.py). Figures: sustained jobs/s
(jobs the workers started inside the window / window) and enqueue -> start latency
(producer's send clock to the handler's start clock, same host) p50/p99/p99.9; also from the
job's ``created_at`` (the store's clock inside the enqueue transaction) to the start.

Outcome checked outside Quorra: after the producer stops, every job it sent must have run
exactly once (workers' tallies) and be succeeded in PostgreSQL.

    python bench/steady.py [--rounds 3] [--seconds 60] [--rates 200,1000,0] [--max-jobs 500]
"""

from __future__ import annotations

import argparse

import harness as h


def steady_once(rate: float, seconds: float, max_jobs: int, redis: bool) -> dict[str, float]:
    h.reset_jobs()
    if redis:
        h.reset_redis()
    with h.quorra_server(redis=redis) as srv:
        with h.workers(2, srv.grpc, max_jobs=max_jobs) as (group, tallies):
            h.wait_workers(group, srv.grpc)  # load starts once both workers are connected
            sent, t0, t1 = h.produce(srv.url, rate, seconds)
            h.wait_drained(deadline=300)
        tally = h.read_tallies(tallies)
    if len(tally.ids) != sent or tally.duplicates:
        raise SystemExit(f"steady: {len(tally.ids)} runs ({tally.duplicates} twice) for "
                         f"{sent} jobs sent")
    inside = [s for s in tally.started if t0 <= s <= t1]
    lat = [1000 * (s - t) for s, t in zip(tally.started, tally.sent, strict=True)]
    stored = [1000 * (s - c) for s, c in zip(tally.started, tally.created, strict=True)]
    return {"offered_per_s": sent / (t1 - t0), "sustained_per_s": len(inside) / (t1 - t0),
            "p50_ms": h.percentile(lat, 50), "p99_ms": h.percentile(lat, 99),
            "p999_ms": h.percentile(lat, 99.9), "jobs": sent,
            "stored_p50_ms": h.percentile(stored, 50), "stored_p99_ms": h.percentile(stored, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rates", default="200,1000,0", help="jobs/s; 0 = maximum")
    parser.add_argument("--max-jobs", type=int, default=500, help="concurrency per worker")
    parser.add_argument("--redis", action="store_true")
    args = parser.parse_args()
    mode = "redis" if args.redis else "postgres"
    runs: dict[str, list[dict[str, float]]] = {}
    for round_no in range(1, args.rounds + 1):
        for rate in (float(r) for r in args.rates.split(",")):
            name = f"{rate:.0f}/s" if rate else "max"
            result = steady_once(rate, args.seconds, args.max_jobs, args.redis)
            runs.setdefault(name, []).append(result)
            h.log(f"round {round_no} {mode} steady {name:7}: offered "
                  f"{result['offered_per_s']:.0f}, sustained "
                  f"{result['sustained_per_s']:.0f} jobs/s, p50 {result['p50_ms']:.1f} ms, "
                  f"p99 {result['p99_ms']:.1f} ms, p99.9 {result['p999_ms']:.1f} ms")
    summary = {name: {k: h.median([r[k] for r in rs]) for k in rs[0]} for name, rs in runs.items()}
    h.log(f"\n{mode} steady state, medians of {args.rounds} rounds of {args.seconds:.0f} s:")
    for name, s in summary.items():
        h.log(f"  {name:7} sustained {s['sustained_per_s']:7.0f} jobs/s  p50 {s['p50_ms']:7.1f} "
              f"ms  p99 {s['p99_ms']:7.1f} ms  p99.9 {s['p999_ms']:7.1f} ms  (from created_at: "
              f"p50 {s['stored_p50_ms']:.1f} ms, p99 {s['stored_p99_ms']:.1f} ms)")
    h.save(f"steady_{mode}", {"rounds": args.rounds, "seconds": args.seconds, "mode": mode,
                              "max_jobs": args.max_jobs, "summary": summary, "runs": runs})


if __name__ == "__main__":
    main()
