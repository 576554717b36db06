"""PgQueuer consumer (PostgreSQL only; one asyncpg connection, LISTEN/NOTIFY):
``pgq run peer_apps.pgqueuer_app:create_pgqueuer``. PgQueuer takes only ``async def``
entrypoints; a ``def`` body goes through ``asyncio.to_thread``, as its documentation says."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import job_bodies as jb
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job

DSN = os.environ.get("QUORRA_PEERS_BROKER_URL",
                     "postgresql://postgres@127.0.0.1:5432/quorra_bench_peers_pgqueuer")


async def sync_incr(job: Job) -> None:
    await asyncio.to_thread(jb.sync_incr)


async def sync_cpu(job: Job) -> None:
    await asyncio.to_thread(jb.sync_cpu)


async def async_incr(job: Job) -> None:
    await jb.async_incr()


async def async_sleep(job: Job) -> None:
    await jb.async_sleep()


async def empty_async(job: Job) -> None:
    await jb.empty_async()


async def latency(job: Job) -> None:
    await jb.latency_async(float(job.payload or b"0"))


ENTRYPOINTS: dict[str, Any] = {"sync_incr": sync_incr, "sync_cpu": sync_cpu,
                               "async_incr": async_incr,
                               "async_sleep": async_sleep, "empty_async": empty_async,
                               "latency": latency}


@asynccontextmanager
async def create_pgqueuer() -> AsyncIterator[PgQueuer]:
    conn = await asyncpg.connect(DSN)
    try:
        pgq = PgQueuer(AsyncpgDriver(conn))
        for name, func in ENTRYPOINTS.items():
            pgq.entrypoint(name)(func)
        yield pgq
    finally:
        await conn.close()
