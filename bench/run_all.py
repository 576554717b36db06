"""``make bench``: every benchmark in turn, then the report (bench/results/results.md + PNGs).

    python bench/run_all.py [--quick] [--rounds N]

Workloads that need parts not present in this checkout are skipped with a note: the gRPC
worker protocol (drain, steady state, gRPC enqueue) and Redis dispatch (the same in Redis mode).
The full run (3 rounds, 60 s steady-state runs) takes about half an hour; ``--quick`` gives
indicative figures in a few minutes.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

import harness as h


def have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def run(script: str, *args: str) -> None:
    h.log(f"\n=== {script} {' '.join(args)}")
    subprocess.run([sys.executable, str(h.ROOT / "bench" / script), *args], check=True,
                   cwd=h.ROOT / "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--seconds", type=int, default=0, help="steady-state run length")
    args = parser.parse_args()
    rounds = str(args.rounds or (1 if args.quick else 3))
    jobs = "10000" if args.quick else "20000"
    seconds = str(args.seconds or (10 if args.quick else 60))
    run("pg_bound.py", "--rounds", rounds, "--seconds", "3" if args.quick else "5")
    run("lease_scan.py", "--leased", "20000" if args.quick else "60000")
    run("rest_enqueue.py", "--rounds", rounds, "--jobs", jobs)
    if have("quorra.rpc.proto") and have("quorra.worker.main"):
        run("grpc_enqueue.py", "--rounds", rounds, "--jobs", jobs)
        run("drain.py", "--rounds", rounds, "--jobs", jobs, "--max-jobs", "500",
            "--variant=--no-group-commit")
        run("steady.py", "--rounds", rounds, "--seconds", seconds)
        run("stages.py", "--seconds", "20")
        if have("quorra.broker.redis"):
            run("drain.py", "--redis", "--rounds", rounds, "--jobs", jobs, "--max-jobs", "500")
            run("steady.py", "--redis", "--rounds", rounds, "--seconds", seconds)
            run("stages.py", "--redis", "--seconds", "20")
        else:
            h.log("\n(Redis dispatch not in this checkout: Redis-mode workloads skipped)")
    else:
        h.log("\n(worker protocol not in this checkout: drain, steady state and gRPC enqueue "
              "skipped)")
    run("report.py")


if __name__ == "__main__":
    main()
