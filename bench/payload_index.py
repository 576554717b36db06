"""What the payload search index (migration 0015: GIN, jsonb_path_ops) costs an enqueue: batch
enqueues of 1,000 jobs through JobService (Postgres-only), alternating rounds with the index and
without it (dropped, then made again), on a table that keeps growing as in production.
Prints the median µs per job of each and the difference.

    python bench/payload_index.py [--rounds 10] [--batches 20]

Payloads like a real job's: about 200 bytes, eight leaves, one nested object and a list.
Uses its own database (``<bench database>_payload_index``), dropped and created afresh.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

import harness as h
import psycopg
from prometheus_client import CollectorRegistry
from psycopg import sql

from quorra.archive.postgres import PostgresArchive
from quorra.broker.postgres import PostgresBroker
from quorra.core.jobs import JobSpec
from quorra.core.spec import EnqueueRequest, Limits, to_spec
from quorra.db.migrate import apply_migrations
from quorra.db.pool import create_pool
from quorra.metrics import Metrics
from quorra.service import JobService

BATCH = 1000
INDEX = "CREATE INDEX quorra_jobs_payload ON quorra_jobs USING gin (payload jsonb_path_ops)"


def fresh_database() -> str:
    name = str(psycopg.conninfo.conninfo_to_dict(h.DATABASE_URL).get("dbname")) + "_payload_index"
    admin = psycopg.conninfo.make_conninfo(h.DATABASE_URL, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(h.DATABASE_URL, dbname=name)


def batch(start: int) -> list[JobSpec]:
    return [to_spec(EnqueueRequest(type="orders.confirm", queue="bench", payload={
        "user": start + i, "order": f"ord-{start + i:09d}", "amount": 1999 + i % 500,
        "currency": "EUR", "items": [f"sku-{i % 97}", f"sku-{i % 13}"],
        "shipping": {"country": "DE", "express": i % 2 == 0}}), Limits())
        for i in range(BATCH)]


async def round_us(service: JobService, batches: int, start: int) -> float:
    """µs per job of ``batches`` batch enqueues."""
    specs = [batch(start + b * BATCH) for b in range(batches)]
    began = time.perf_counter()
    for chunk in specs:
        await service.enqueue(chunk)
    return (time.perf_counter() - began) / (batches * BATCH) * 1e6


def merge_us(url: str, jobs: int) -> float:
    """µs per job of merging the index's pending list (GIN fastupdate: inserts append there and
    vacuum, or the insert that fills it, moves the entries into the index proper)."""
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        conn.execute("SELECT gin_clean_pending_list('quorra_jobs_payload')")
        return (time.perf_counter() - began) / jobs * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    url = fresh_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT 1")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await apply_migrations(conn)
    pool = create_pool(url, max_size=4, timeout=10)
    await pool.open(wait=True)
    broker = PostgresBroker(pool, url)
    await broker.start()
    service = JobService(broker, PostgresArchive(pool), Metrics(CollectorRegistry()))
    figures: dict[str, list[float]] = {"with": [], "without": [], "merge": []}
    start = 0
    try:
        await round_us(service, args.batches, start)  # warm-up
        start += args.batches * BATCH
        for _ in range(args.rounds):
            for label in ("with", "without"):
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("DROP INDEX IF EXISTS quorra_jobs_payload")
                    if label == "with":
                        conn.execute(INDEX)
                    conn.execute("VACUUM ANALYZE quorra_jobs")
                figures[label].append(await round_us(service, args.batches, start))
                if label == "with":
                    figures["merge"].append(merge_us(url, args.batches * BATCH))
                start += args.batches * BATCH
    finally:
        await broker.close()
        await pool.close()
    with_us, without_us, merge = (statistics.median(figures[k])
                                  for k in ("with", "without", "merge"))
    print(f"jobs in the table at the end: {start}")
    print(f"batch enqueue, 1,000-job batches: with the index {with_us:.1f} µs/job, "
          f"without {without_us:.1f} µs/job, index cost {with_us - without_us:+.1f} µs/job "
          f"({(with_us / without_us - 1) * 100:+.0f}%), plus {merge:.1f} µs/job to merge its "
          f"pending list (later, in vacuum)")
    h.save("payload_index", {"with_us_per_job": with_us, "without_us_per_job": without_us,
                             "merge_us_per_job": merge, "rounds": figures, "jobs_at_end": start})


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main())
