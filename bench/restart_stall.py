"""Issue 21's table, re-run: one quorra-server, one quorra-worker (queue ``default``, a handler
that records its runs outside Quorra), producers posting single jobs over REST; part-way
through, PostgreSQL is restarted (``pg_ctl``, ``-m fast`` by default, stopped for ``--down``
seconds as a managed database's restart is). Against a private PostgreSQL cluster and private
redis-servers started here, so the shared servers are never touched.

    ../.venv/bin/python restart_stall.py                      # both modes, the issue's plan
    ../.venv/bin/python restart_stall.py --duration 15 --restart-at 5 --modes postgres

Prints the table (mode, 201s, 503s, executed within --settle s after the load, stuck pending)
and what the restart cost; writes results/restart_stall.json. When run as root, the cluster
runs as the ``postgres`` system user.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scenario lives with the restart tests

from tests.integration.private_postgres import PrivatePostgres  # noqa: E402
from tests.integration.restarts.scenario import Dispatch, Plan, Result, run_plan  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODE_NAMES = {"redis": "Redis", "postgres": "Postgres-only"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="redis,postgres",
                        help="dispatch modes to run, comma-separated (redis, postgres)")
    parser.add_argument("--restart", choices=["postgres", "redis", "failover"],
                        default="postgres",
                        help="the store to restart (redis: Redis mode only; failover: the "
                             "primary crashes, a synchronous standby is promoted after --down s)")
    parser.add_argument("--shutdown", choices=["fast", "immediate"], default="fast")
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=300.0,
                        help="jobs/s the producers aim at together (0: as fast as they can)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--restart-at", type=float, default=8.0, help="seconds into the load")
    parser.add_argument("--down", type=float, default=2.3,
                        help="seconds the store stays stopped during the restart")
    parser.add_argument("--settle", type=float, default=90.0,
                        help="seconds after the load for every accepted job to run")
    args = parser.parse_args()

    results: list[Result] = []
    for mode in args.modes.split(","):
        if mode not in MODE_NAMES:
            parser.error(f"unknown mode {mode!r}: expected redis or postgres")
        plan = Plan(cast(Dispatch, mode), args.restart, args.shutdown,
                    producers=args.producers, rate=args.rate, duration=args.duration,
                    restart_at=args.restart_at, down=args.down, settle=args.settle)
        workdir = Path(tempfile.mkdtemp(prefix=f"restart-stall-{mode}-"))
        print(f"running {plan.name} (logs in {workdir}) ...", flush=True)
        result = run_on_private_postgres(plan, workdir)
        results.append(result)
        print(json.dumps(result.row()), flush=True)

    print(f"\n{args.restart} (-m {args.shutdown}, {args.down:g} s down) at second "
          f"{args.restart_at:g} of {args.duration:g}; {args.producers} producers aiming at "
          f"{args.rate:g} jobs/s\n")
    print(f"| mode | 201s | 503s | executed within {args.settle:g} s after | stuck `pending` |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {MODE_NAMES[r.plan.dispatch]} | {len(r.created):,} | {len(r.unavailable):,} "
              f"| {len(r.executed):,} | {r.pending_after:,} |")
    print("\n| mode | restart (s) | 503 window (s after it began) | longest without a 201 (s) "
          "| longest without a run (s) | first run after it (s) | run twice | other errors |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for r in results:
        row = r.row()
        window = row["503 window (s)"]
        shown = "none" if window is None else f"{window[0]:.2f}–{window[1]:.2f}"
        print(f"| {MODE_NAMES[r.plan.dispatch]} | {row['restart (s)']:.2f} | {shown} "
              f"| {row['longest without a 201 (s)']:.2f} "
              f"| {row['longest without a run (s)']:.2f} "
              f"| {row['first run after restart (s)']} | {len(r.duplicates)} "
              f"| {len(r.errors)} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "restart_stall.json"
    out.write_text(json.dumps({"args": vars(args), "runs": [r.row() for r in results]},
                              indent=2))
    print(f"\nwrote {out}")
    stuck = [r for r in results if r.missing or r.pending_after or r.unexplained_duplicates
             or r.errors or r.quorra_restarted]
    sys.exit(1 if stuck else 0)


def run_on_private_postgres(plan: Plan, workdir: Path) -> Result:
    """A fresh private cluster per run (a failover leaves its primary stopped); for a
    failover, a synchronous streaming standby of it, promoted when the primary crashes."""
    with PrivatePostgres() as postgres:
        if plan.restart != "failover":
            return run_plan(plan, postgres, workdir)
        standby = postgres.standby()
        try:
            postgres.wait_for_sync_standby()
            return run_plan(plan, postgres, workdir, standby=standby)
        finally:
            standby.destroy()


if __name__ == "__main__":
    main()
