"""The composition root: settings → pool → broker and archive → service → front doors.
The only module that picks implementations."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import psycopg_pool
from litestar import Litestar
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from quorra.archive.postgres import PostgresArchive
from quorra.broker.postgres import PostgresBroker
from quorra.core.errors import QuorraError, StoreUnavailable
from quorra.db.migrate import apply_migrations
from quorra.db.pool import Pool, connection, create_pool
from quorra.http.app import create_app
from quorra.metrics import Metrics
from quorra.rpc.server import RpcServer
from quorra.scheduler import Housekeeping
from quorra.service import JobService
from quorra.settings import Settings
from quorra.throughput import Throughput
from quorra.workers import WorkerDirectory

__all__ = ["Runtime", "migrate", "running"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Runtime:
    settings: Settings
    service: JobService
    app: Litestar
    mode: str
    rpc: RpcServer
    workers: WorkerDirectory


async def _open_pool(settings: Settings) -> Pool:
    pool = create_pool(settings.database_url, max_size=settings.db_pool_size,
                       timeout=settings.db_timeout)
    try:
        await pool.open(wait=True, timeout=settings.db_timeout)
    except psycopg_pool.PoolTimeout as exc:
        await pool.close()
        raise StoreUnavailable("cannot connect to PostgreSQL at DATABASE_URL") from exc
    return pool


async def migrate(settings: Settings) -> list[str]:
    pool = await _open_pool(settings)
    try:
        async with connection(pool) as conn:
            return await apply_migrations(conn)
    finally:
        await pool.close()


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runtime]:
    """Everything a server replica runs, started in order and stopped in reverse."""
    settings.require_server()
    async with contextlib.AsyncExitStack() as stack:
        pool = await _open_pool(settings)
        stack.push_async_callback(pool.close)
        async with connection(pool) as conn:
            await apply_migrations(conn)
        archive = PostgresArchive(pool)
        broker = PostgresBroker(pool, settings.database_url)
        await broker.start()
        stack.push_async_callback(broker.close)
        registry = _registry()
        metrics = Metrics(registry)
        mode = "postgres"
        metrics.set_dispatch_mode(mode)  # the dispatch switch calls this again on a change
        workers = WorkerDirectory()
        metrics.watch_workers(workers)
        service = JobService(broker, archive, metrics, default_lease_ttl=settings.lease_ttl)
        housekeeping = Housekeeping(service, reap_interval=settings.reap_interval)
        throughput = Throughput(metrics)
        housekeeping.add_chore("sample_throughput", throughput.sample, 1.0)
        housekeeping.start()
        stack.callback(housekeeping.shutdown)

        async def readiness() -> dict[str, Any]:
            try:
                await archive.ping()
                store = "ok"
            except QuorraError as exc:
                store = exc.message
            return {"ready": store == "ok", "postgres": store, "mode": "postgres"}

        rpc = RpcServer(service, api_key=settings.api_key, host=settings.grpc_addr.host,
                        port=settings.grpc_addr.port, directory=workers, limits=settings.limits,
                        max_message_bytes=settings.max_body_bytes + 64 * 1024,
                        grace=settings.shutdown_grace)
        await rpc.start()
        stack.push_async_callback(rpc.stop)
        app = create_app(service, api_key=settings.api_key, registry=registry,
                         readiness=readiness, limits=settings.limits,
                         max_body_bytes=settings.max_body_bytes, workers=workers,
                         dispatch_mode=lambda: mode, throughput=throughput)
        yield Runtime(settings=settings, service=service, app=app, mode=mode, rpc=rpc,
                      workers=workers)
