"""Pause and resume a queue with a large backlog: how long each REST answer takes. In Redis
mode the resume's sweep, which proposes the queue's pending jobs again, runs in the
background: the answer must not grow with the backlog.

    python bench/pause_resume.py [--jobs 100000] [--rounds 3] [--redis [--leases stream]]
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request

import harness as h

QUEUE = "bench"


def _post(url: str, path: str) -> float:
    """POST ``path``; the seconds its answer took."""
    req = urllib.request.Request(f"{url}{path}", data=b"", method="POST",
                                 headers={"x-api-key": h.API_KEY})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        json.loads(resp.read())
    return time.perf_counter() - started


def once(jobs: int, redis: bool, leases: str) -> dict[str, float]:
    h.reset_jobs()
    if redis:
        h.reset_redis()
    extra = {"QUORRA_REDIS_LEASES": leases} if redis else {}
    with h.quorra_server(processes=1, variant=(), redis=redis, log=None, **extra) as srv:
        h.enqueue_batches(srv.url, jobs, queue=QUEUE)
        if h.count_jobs("pending") != jobs:
            raise SystemExit("pre-enqueue did not store every job")
        pause = _post(srv.url, f"/v1/queues/{QUEUE}/pause")
        resume = _post(srv.url, f"/v1/queues/{QUEUE}/resume")
        again = _post(srv.url, f"/v1/queues/{QUEUE}/pause")
    return {"pause_ms": 1000 * pause, "resume_ms": 1000 * resume, "pause_again_ms": 1000 * again}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis", action="store_true", help="Redis dispatch mode")
    parser.add_argument("--leases", choices=["grant", "stream"], default="grant")
    args = parser.parse_args()
    mode = f"redis_{args.leases}" if args.redis else "postgres"
    runs = [once(args.jobs, args.redis, args.leases) for _ in range(args.rounds)]
    summary = {k: h.median([r[k] for r in runs]) for k in runs[0]}
    h.log(f"{mode}, {args.jobs:,}-job backlog, medians of {args.rounds}: pause "
          f"{summary['pause_ms']:.1f} ms, resume {summary['resume_ms']:.1f} ms, pause again "
          f"{summary['pause_again_ms']:.1f} ms")
    h.save(f"pause_resume_{mode}", {"jobs": args.jobs, "rounds": args.rounds, "mode": mode,
                                    "summary": summary, "runs": runs})


if __name__ == "__main__":
    main()
