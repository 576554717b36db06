"""Backlog independence: the drain rate from a large backlog against the rate from 20,000 jobs,
per dispatch mode, on a private PostgreSQL whose buffers are sized with ``--shared-buffers``
(the default 128MB against the tuned size tells PostgreSQL's share of the loss from Quorra's)
and a private redis-server. Each drain is ``bench/drain.py``'s (empty handler, 2 workers × 500,
every job counted once outside Quorra); PostgreSQL's buffer and checkpoint counters are read
around it.

    python bench/backlog.py [--jobs 1000000] [--small 20000] [--shared-buffers 2GB]
                            [--modes postgres,grant,stream] [--set autovacuum=off ...]

Writes ``results/backlog_<shared buffers>[_<setting>].json``; not in CI.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cpu_budget import private_redis  # noqa: E402

from tests.integration.private_postgres import PrivatePostgres  # noqa: E402

_COUNTERS = ("SELECT checkpoints_req, checkpoints_timed, buffers_backend, buffers_checkpoint "
             "FROM pg_stat_bgwriter")


def _configure(cluster: PrivatePostgres, shared_buffers: str, extra: list[str]) -> None:
    """Durable settings (fsync, full-page writes), the buffers under test, WAL room for one
    backlog's enqueue, and any ``name=value`` of ``extra`` (e.g. ``autovacuum=off``)."""
    import psycopg

    settings = [("fsync", "on"), ("full_page_writes", "on"),
                ("shared_buffers", shared_buffers), ("max_wal_size", "4GB"),
                *(tuple(item.split("=", 1)) for item in extra)]
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        for name, value in settings:
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    cluster.restart()


@contextmanager
def _services(shared_buffers: str, extra: list[str]) -> Iterator[Any]:
    with PrivatePostgres() as cluster, private_redis() as (redis_url, _):
        _configure(cluster, shared_buffers, extra)
        os.environ["QUORRA_BENCH_DATABASE_URL"] = cluster.database_url("quorra_bench_backlog")
        os.environ["QUORRA_BENCH_REDIS_URL"] = f"{redis_url}/0"
        import drain

        yield drain


def _counters(h: Any) -> dict[str, int]:
    with h.pg() as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(_COUNTERS).fetchone()
    return dict(zip(("checkpoints_req", "checkpoints_timed", "buffers_backend",
                     "buffers_checkpoint"), row, strict=True))


def _drain(drain: Any, jobs: int, mode: str) -> dict[str, float]:
    before = _counters(drain.h)
    result: dict[str, float] = drain.drain_once(
        jobs, 2, 500, 1, mode != "postgres", (), "grant" if mode == "postgres" else mode)
    after = _counters(drain.h)
    return {**result, **{k: after[k] - before[k] for k in before}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--shared-buffers", default="2GB")
    parser.add_argument("--modes", default="postgres,grant,stream")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="another PostgreSQL setting, e.g. autovacuum=off (repeatable)")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with _services(args.shared_buffers, args.set) as drain:
        for mode in args.modes.split(","):
            small = [_drain(drain, args.small, mode) for _ in range(3)]
            large = _drain(drain, args.jobs, mode)
            rate = drain.h.median([r["jobs_per_s"] for r in small])
            results[mode] = {"small": small, "large": large, "small_median": rate,
                             "ratio": large["jobs_per_s"] / rate}
            drain.h.log(f"{mode}: {rate:.0f} jobs/s from {args.small:,}, "
                        f"{large['jobs_per_s']:.0f} from {args.jobs:,} "
                        f"({100 * results[mode]['ratio']:.0f} %); server CPU "
                        f"{large['server_cpu_us_per_job']:.0f} us/job; during the large drain "
                        f"{large['checkpoints_req']} requested checkpoints, "
                        f"{large['buffers_backend']} buffers written by backends")
        suffix = "".join(f"_{item.replace('=', '-')}" for item in args.set)
        drain.h.save(f"backlog_{args.shared_buffers}{suffix}",
                     {"jobs": args.jobs, "small": args.small, "settings": args.set,
                      "shared_buffers": args.shared_buffers, "modes": results})


if __name__ == "__main__":
    main()
