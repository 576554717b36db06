"""What job dependencies cost plain acks (jobs nothing depends on): the same ack statements on
a database made by the migrations before 0007 and on one with 0007 (the status trigger of
``0007_dependencies.sql``), and with 0007 but its trigger disabled (the trigger's own share),
in alternating rounds. Prints the median microseconds per job of
group-committed acks (``ack_batch``, 100 jobs per statement) and of single acks (``ack``), and
the fastest round (the machine may be shared: the minimum is the least disturbed). Commits do
not wait for the WAL flush (``synchronous_commit = off``), so the figures are the statements'
own cost, where a trigger would show.

    python bench/dependency_acks.py [--rounds 5] [--jobs 5000]

Uses two databases of its own (``<bench database>_deps_before`` / ``_deps_after``), dropped
and created afresh. Runs in well under a minute.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any, LiteralString

import harness as h
import msgspec
import psycopg
from psycopg import sql

from quorra.db.migrate import available_migrations
from quorra.db.sqlfiles import load_queries

QUERIES = load_queries("quorra.broker.postgres")
BATCH = 100


def _url(suffix: str) -> str:
    base, _, name = h.DATABASE_URL.rpartition("/")
    return f"{base}/{name}_{suffix}"


def _fresh(url: str, upto: int) -> None:
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(str(name))))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))
    with psycopg.connect(url, autocommit=True) as conn:
        for version, _, text in available_migrations():
            if version <= upto:
                script: LiteralString = text
                conn.execute(script)


def _leased(conn: psycopg.Connection[Any], n: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    conn.execute("TRUNCATE quorra_jobs")
    cur = conn.execute(
        "INSERT INTO quorra_jobs (id, type, queue, status, attempts, lease_id, leased_at, "
        "lease_expires_at) SELECT gen_random_uuid(), 't', 'q', 'leased', 1, gen_random_uuid(), "
        "now(), now() + interval '1 hour' FROM generate_series(1, %s) RETURNING id, lease_id",
        (n,))
    conn.execute("VACUUM ANALYZE quorra_jobs")
    return [(row[0], row[1]) for row in cur.fetchall()]


def _batches(conn: psycopg.Connection[Any], query: str, n: int) -> float:
    leases = _leased(conn, n)
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        acks = [{"id": str(j), "lease_id": str(lease), "result": None}
                for j, lease in leases[start:start + BATCH]]
        conn.execute(query, {"acks": msgspec.json.encode(acks).decode()})
    return (time.perf_counter() - started) / n * 1e6


def _singles(conn: psycopg.Connection[Any], query: str, n: int) -> float:
    leases = _leased(conn, n)
    started = time.perf_counter()
    for job_id, lease in leases:
        conn.execute(query, {"id": job_id, "lease_id": lease,
                             "result": None})
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--jobs", type=int, default=3000)
    args = parser.parse_args()
    before, after, bare = _url("deps_before"), _url("deps_after"), _url("deps_untriggered")
    _fresh(before, 6)
    _fresh(after, 7)
    _fresh(bare, 7)
    with psycopg.connect(bare, autocommit=True) as conn:  # 0007's schema, its trigger off
        conn.execute("ALTER TABLE quorra_jobs DISABLE TRIGGER quorra_jobs_parents_finished")
    # before 0007 there is no has_dependents column: the same statements without it
    old = {name: QUERIES[name].replace("j.has_dependents", "false")
           .replace("has_dependents", "false") for name in ("ack_batch", "ack")}
    runs: dict[str, list[float]] = {}
    with psycopg.connect(before, autocommit=True) as b, \
            psycopg.connect(after, autocommit=True) as a, \
            psycopg.connect(bare, autocommit=True) as u:
        for conn in (a, b, u):
            conn.execute("SET synchronous_commit = off")
        for _ in range(args.rounds):
            for label, conn, queries in (("before 0007", b, old), ("with 0007", a, QUERIES),
                                         ("0007, trigger off", u, QUERIES)):
                runs.setdefault(f"ack_batch {label}", []).append(
                    _batches(conn, queries["ack_batch"], args.jobs))
                runs.setdefault(f"ack {label}", []).append(
                    _singles(conn, queries["ack"], args.jobs // 5))
    for name, values in runs.items():
        print(f"{name:28s} median {statistics.median(values):7.1f} us/job, "
              f"fastest {min(values):7.1f}")


if __name__ == "__main__":
    main()
