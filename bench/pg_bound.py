"""Bounds from the machine itself, for reading the other figures.

- PostgreSQL commits/s: pgbench with one single-row INSERT per transaction (fsync and
  synchronous_commit as configured), 16 and 64 clients. One job per transaction (group commit
  off) cannot beat this; group commit shares one commit among many jobs.
- PostgreSQL rows/s in large transactions: pgbench inserting 1,000 rows per transaction.

    python bench/pg_bound.py [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

import harness as h

TABLE = "bench_pgbench_probe"


def pgbench(script: str, clients: int, seconds: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(["pgbench", "-n", "-f", f.name, "-c", str(clients), "-j", "2",
                              "-T", str(seconds), h.DATABASE_URL],
                             capture_output=True, text=True, check=True).stdout
    finally:
        Path(f.name).unlink()
    match = re.search(r"tps = ([\d.]+)", out)
    if not match:
        raise RuntimeError(f"cannot parse pgbench output:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    with h.pg() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, payload jsonb NOT NULL)")
    one = f"INSERT INTO {TABLE} (payload) VALUES ('{{\"n\": 1}}');\n"
    thousand = (f"INSERT INTO {TABLE} (payload) "
                "SELECT jsonb_build_object('n', g) FROM generate_series(1, 1000) g;\n")
    runs: dict[str, list[float]] = {"commits_per_s_c16": [], "commits_per_s_c64": [],
                                    "rows_per_s_1000_per_commit": []}
    try:
        for round_no in range(1, args.rounds + 1):
            runs["commits_per_s_c16"].append(pgbench(one, 16, args.seconds))
            runs["commits_per_s_c64"].append(pgbench(one, 64, args.seconds))
            runs["rows_per_s_1000_per_commit"].append(1000 * pgbench(thousand, 2, args.seconds))
            h.log(f"round {round_no}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in runs.items()))
            with h.pg() as conn:
                conn.execute(f"TRUNCATE {TABLE}")
    finally:
        with h.pg() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    summary = {k: h.median(v) for k, v in runs.items()}
    h.log("medians: " + ", ".join(f"{k} {v:.0f}" for k, v in summary.items()))
    h.save("pg_bound", {"rounds": args.rounds, "seconds": args.seconds, "summary": summary,
                        "runs": runs})


if __name__ == "__main__":
    main()
