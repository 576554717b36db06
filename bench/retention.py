"""What 1,000,000 finished jobs cost the hot reads: GET /v1/queues, the dashboard's polls, the
housekeeping gauge refresh, a lease and the Redis repair sweep's page, each with 1,000 live
jobs on an otherwise empty table and again after 1,000,000 finished ones were added (succeeded,
dead, cancelled), and filtered job listings that match nothing (the dead jobs are all in q0).
Prints the median of each and the ratio (target: at most 2x).

    python bench/retention.py [--finished 1000000] [--runs 200]

Uses its own database (``<bench database>_retention``), dropped and created afresh.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import harness as h
import psycopg
from litestar.testing import AsyncTestClient
from prometheus_client import CollectorRegistry
from psycopg import sql

from quorra.archive.postgres import PostgresArchive
from quorra.broker.postgres import PostgresBroker
from quorra.broker.redis.supervisor import QUERIES as REDIS_QUERIES
from quorra.db.migrate import apply_migrations
from quorra.db.pool import Pool, connection, create_pool
from quorra.http.app import create_app
from quorra.metrics import Metrics
from quorra.service import JobService

API_KEY = "bench-retention-key"
Probe = Callable[[], Awaitable[object]]


def fresh_database() -> str:
    name = str(psycopg.conninfo.conninfo_to_dict(h.DATABASE_URL).get("dbname")) + "_retention"
    admin = psycopg.conninfo.make_conninfo(h.DATABASE_URL, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(h.DATABASE_URL, dbname=name)


async def fill(url: str, live: int, finished: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        if live:
            await conn.execute(
                "INSERT INTO quorra_jobs (id, type, queue) SELECT gen_random_uuid(), 't', "
                "'q' || (i %% 10) FROM generate_series(1, %s) i", (live,))
        if finished:  # newest finished jobs interleaved with the live ones' queues
            await conn.execute(
                "INSERT INTO quorra_jobs (id, type, queue, status, attempts, finished_at,"
                " created_at) SELECT gen_random_uuid(), 't', 'q' || (i %% 10), CASE"
                " WHEN i %% 50 = 0 THEN 'dead' WHEN i %% 50 = 1 THEN 'cancelled'"
                " ELSE 'succeeded' END, 1, now() - make_interval(secs => i),"
                " now() - make_interval(secs => i) FROM generate_series(1, %s) i", (finished,))
        await conn.execute("VACUUM ANALYZE quorra_jobs")


async def median_ms(probe: Probe, runs: int) -> float:
    for _ in range(10):
        await probe()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await probe()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


async def log_in(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    form = (await client.get("/dashboard/login")).text
    nonce = re.search(r'name="nonce" value="([^"]+)"', form)
    assert nonce is not None
    await client.post("/dashboard/login", data={"nonce": nonce[1], "api_key": API_KEY})


def probes(service: JobService, broker: PostgresBroker, pool: Pool,
           client: AsyncTestClient) -> dict[str, Probe]:  # type: ignore[type-arg]
    async def get(path: str, **params: str | int) -> None:
        response = await client.get(path, params=params, headers={"X-API-Key": API_KEY})
        assert response.status_code == 200, response.text

    async def lease() -> None:
        jobs = await broker.lease(["q3"], worker_id="bench", limit=10, ttl=30)
        assert len(jobs) == 10
        await broker.release([(j.id, j.lease_id) for j in jobs if j.lease_id])

    async def sweep_page() -> None:
        async with connection(pool) as conn:
            await conn.execute(REDIS_QUERIES["sweep_page"],
                               {"after": uuid.UUID(int=0), "age": 0, "limit": 1000})

    return {
        "GET /v1/queues": lambda: get("/v1/queues"),
        "dashboard overview poll": lambda: get("/dashboard/api/overview"),
        "dashboard jobs poll": lambda: get("/dashboard/api/jobs", limit=20),
        "dashboard dead poll": lambda: get("/dashboard/api/jobs", status="dead", limit=10),
        "list dead of q3 (none)": lambda: get("/v1/jobs", status="dead", queue="q3"),
        "list leased (none)": lambda: get("/v1/jobs", status="leased"),
        "list queue qx (none)": lambda: get("/v1/jobs", queue="qx"),
        "housekeeping gauges": service.refresh_queue_gauge,
        "lease 10 (+ release)": lease,
        "repair sweep page": sweep_page,
    }


async def measure(url: str, runs: int) -> dict[str, float]:
    pool = create_pool(url, max_size=4, timeout=10)
    await pool.open(wait=True)
    broker = PostgresBroker(pool, url)
    await broker.start()
    registry = CollectorRegistry()
    service = JobService(broker, PostgresArchive(pool), Metrics(registry))

    async def ready() -> dict[str, object]:
        return {"ready": True}

    app = create_app(service, api_key=API_KEY, registry=registry, readiness=ready)
    try:
        async with AsyncTestClient(app=app) as client:
            await log_in(client)
            await broker.fold_counts()
            return {name: await median_ms(probe, runs)
                    for name, probe in probes(service, broker, pool, client).items()}
    finally:
        await broker.close()
        await pool.close()


async def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--live", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    url = fresh_database()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await apply_migrations(conn)
    await fill(url, args.live, 0)
    empty = await measure(url, args.runs)
    start = time.perf_counter()
    await fill(url, 0, args.finished)
    print(f"added {args.finished:,} finished jobs in {time.perf_counter() - start:.0f} s")
    full = await measure(url, args.runs)
    print(f"{'median ms':<28}{'empty':>9}{'+finished':>11}{'ratio':>8}")
    for name, base in empty.items():
        print(f"{name:<28}{base:>9.2f}{full[name]:>11.2f}{full[name] / base:>7.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
