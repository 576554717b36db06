"""Where enqueue -> start latency goes: the steady-state workload at one rate against a server
that stamps each job's stages (``variant_server.py --stamps``), joined with the store's clock
(``created_at``: the enqueue transaction began; ``leased_at``: the grant statement began) and the
workers' tallies (producer send, handler start). Prints the median and p90/p99 of each step.

    python bench/stages.py [--rate 1000] [--seconds 20] [--redis]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os

import harness as h

STAGES = ("sent", "created", "committed", "proposed", "grant_sent", "leased", "granted",
          "to_stream", "started")


def run(rate: float, seconds: float, redis: bool) -> dict[str, list[float]]:
    h.reset_jobs()
    if redis:
        h.reset_redis()
    path = h.RESULTS / "stamps.json"
    path.unlink(missing_ok=True)
    os.environ["QUORRA_BENCH_STAMPS"] = str(path)
    with h.quorra_server(redis=redis, variant=("--stamps",)) as srv:
        with h.workers(2, srv.grpc, max_jobs=500) as (group, tallies):
            h.wait_workers(group, srv.grpc)
            sent, _, _ = h.produce(srv.url, rate, seconds)
            h.wait_drained(deadline=300)
        tally = h.read_tallies(tallies)
    if len(tally.ids) != sent or tally.duplicates:
        raise SystemExit(f"stages: {len(tally.ids)} runs ({tally.duplicates} twice) for "
                         f"{sent} jobs sent")
    return steps(tally, json.loads(path.read_text()))


def steps(tally: h.Tally, stamps: dict[str, dict[str, float]]) -> dict[str, list[float]]:
    with h.pg() as conn:
        store = {str(row[0]): (row[1].timestamp(), row[2].timestamp()) for row in
                 conn.execute("SELECT id, created_at, leased_at FROM quorra_jobs")}
    out: dict[str, list[float]] = {}
    for job, sent, started in zip(tally.ids, tally.sent, tally.started, strict=True):
        marks = {**stamps.get(job, {}), "sent": sent, "started": started}
        marks["created"], marks["leased"] = store[job]
        present = [s for s in STAGES if s in marks]
        for a, b in itertools.pairwise(present):
            out.setdefault(f"{a} -> {b}", []).append(1000 * (marks[b] - marks[a]))
        out.setdefault("total", []).append(1000 * (started - sent))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--redis", action="store_true")
    args = parser.parse_args()
    mode = "redis" if args.redis else "postgres"
    result = run(args.rate, args.seconds, args.redis)
    h.log(f"\n{mode} mode, {args.rate:.0f} jobs/s for {args.seconds:.0f} s: enqueue -> start "
          "by step, ms")
    for step, values in result.items():
        h.log(f"  {step:26} p50 {h.percentile(values, 50):6.2f}  p90 "
              f"{h.percentile(values, 90):6.2f}  p99 {h.percentile(values, 99):6.2f}")
    h.save(f"stages_{mode}", {"rate": args.rate, "seconds": args.seconds, "mode": mode,
                              "p50_ms": {k: h.percentile(v, 50) for k, v in result.items()},
                              "p99_ms": {k: h.percentile(v, 99) for k, v in result.items()}})


if __name__ == "__main__":
    main()
