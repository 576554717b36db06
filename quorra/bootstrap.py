"""The composition root: settings → pool → broker and archive → service → front doors.
The only module that picks implementations."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import psycopg_pool
from litestar import Litestar
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from quorra.archive.keys import KeyListener, PostgresKeys
from quorra.archive.postgres import PostgresArchive
from quorra.archive.replicas import PostgresReplicas
from quorra.archive.schedules import PostgresSchedules
from quorra.archive.webhooks import PostgresWebhooks
from quorra.broker.base import Broker
from quorra.broker.handoff import Lessees
from quorra.broker.postgres import PostgresBroker
from quorra.broker.redis import (
    RedisBroker,
    RedisIndex,
    StreamBroker,
    StreamIndex,
    recorded_lease_mode,
)
from quorra.broker.redis import connect as connect_redis
from quorra.core.errors import QuorraError, StoreUnavailable
from quorra.core.keys import Keyring
from quorra.core.sizes import grpc_message_bytes
from quorra.core.throttle import FailureThrottle
from quorra.db.migrate import apply_migrations
from quorra.db.pool import Pool, connection, create_pool
from quorra.http.app import create_app
from quorra.keys import REFRESH_SECONDS, KeyService
from quorra.liveness import DispatchWatchdog
from quorra.metrics import Metrics
from quorra.replicas import Cluster, new_identity
from quorra.rpc.server import RpcServer, server_credentials
from quorra.scheduler import Housekeeping
from quorra.scheduling import ScheduleService
from quorra.service import JobService
from quorra.settings import DEFAULT_REDIS_LEASES, Settings
from quorra.throughput import Throughput
from quorra.tokens import TokenVerifier
from quorra.webhook_delivery import DeliveryLoop
from quorra.webhook_service import WebhookService
from quorra.worker_directory import WorkerDirectory

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
    keys: KeyService
    cluster: Cluster


def _grpc_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    tls = settings.tls
    if not tls.grpc_cert:
        return None
    client_ca = Path(tls.grpc_client_ca).read_bytes() if tls.grpc_client_ca else None
    return server_credentials(Path(tls.grpc_cert).read_bytes(), Path(tls.grpc_key).read_bytes(),
                              client_ca)


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


async def _broker(settings: Settings, pool: Pool) -> Broker:
    """Redis dispatch when REDIS_URL is set (falling back to Postgres at run time), with
    PostgreSQL granting each lease (``grant``) or leases held in Redis (``stream``): as
    ``QUORRA_REDIS_LEASES`` says, else as the dataset records, else ``grant``. Without
    REDIS_URL, Postgres-only dispatch."""
    postgres = PostgresBroker(pool, settings.database_url, default_timeout=settings.job_timeout)
    if not settings.redis_url:
        return postgres
    client = connect_redis(settings.redis_url)
    leases = settings.redis_leases or await recorded_lease_mode(client) or DEFAULT_REDIS_LEASES
    if leases == "stream":  # leases live in Redis
        return StreamBroker(postgres, pool, StreamIndex(client))
    return RedisBroker(postgres, pool, RedisIndex(client))


def _mode(broker: Broker) -> str:
    return str(broker.health()["mode"])


async def _keys(settings: Settings, pool: Pool, stack: contextlib.AsyncExitStack) -> KeyService:
    """The keys this replica accepts: ``QUORRA_API_KEY`` (admin) and the stored keys, read now,
    again on every change announced and every ``REFRESH_SECONDS`` (housekeeping)."""
    tokens = TokenVerifier(settings.jwt) if settings.jwt.enabled else None
    keys = KeyService(PostgresKeys(pool), Keyring(settings.api_key, tokens=tokens))
    await keys.refresh()
    listener = KeyListener(settings.database_url, keys.refresh)
    listener.start()
    stack.push_async_callback(listener.close)
    return keys


def _webhooks(settings: Settings, pool: Pool, service: JobService,
              stack: contextlib.AsyncExitStack) -> WebhookService:
    """The webhook API's service, and this replica's delivery loop (stopped before the broker
    and the pool it uses)."""
    store = PostgresWebhooks(pool)
    config = settings.webhooks
    loop = DeliveryLoop(service, store, timeout=config.timeout, concurrency=config.concurrency,
                        ca_file=config.ca_file)
    loop.start()
    stack.push_async_callback(loop.close)
    return WebhookService(store, allow_http=config.allow_http)


async def _leave(cluster: Cluster) -> None:
    """A replica that stops deletes its row (the others stop showing it at once)."""
    try:
        await cluster.leave()
    except QuorraError as exc:
        log.warning("could not remove this replica's row: %s", exc)


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
        broker = await _broker(settings, pool)
        registry = _registry()
        metrics = Metrics(registry, max_queues=settings.metrics_max_queues)
        broker.report_to(metrics)
        await broker.start()
        stack.push_async_callback(broker.close)
        metrics.set_dispatch_mode(_mode(broker))
        workers = WorkerDirectory()
        metrics.watch_workers(workers)
        lessees = Lessees()  # idle streams wait here for jobs leased at their insert
        broker.hand_off(lessees)
        service = JobService(broker, archive, metrics, default_lease_ttl=settings.lease_ttl,
                             lessees=lessees)
        housekeeping = Housekeeping(service, reap_interval=settings.reap_interval,
                                    retention=settings.retention(),
                                    retention_interval=settings.retention_interval)
        for name, chore, every in broker.chores():
            housekeeping.add_chore(name, chore, every)
        throughput = Throughput(metrics)
        watchdog = DispatchWatchdog(service, workers, metrics, threshold=settings.dispatch_stall)
        housekeeping.add_chore("check_dispatch", watchdog.check, min(settings.dispatch_stall, 5.0))
        housekeeping.add_chore("sample_throughput", throughput.sample, 1.0)
        cluster = Cluster(new_identity(time.time()), workers, throughput, PostgresReplicas(pool),
                          interval=settings.replica_heartbeat)
        housekeeping.add_chore("replica_heartbeat", cluster.heartbeat, settings.replica_heartbeat)
        keys = await _keys(settings, pool, stack)
        housekeeping.add_chore("refresh_keys", keys.refresh, REFRESH_SECONDS)
        throttle = FailureThrottle(limit=settings.auth_failure_limit,
                                   window=settings.auth_failure_window)
        schedules = ScheduleService(PostgresSchedules(pool), service)
        housekeeping.add_chore("fire_schedules", schedules.fire_due, 1.0)
        housekeeping.start()
        stack.push_async_callback(_leave, cluster)
        stack.callback(housekeeping.shutdown)
        webhooks = _webhooks(settings, pool, service, stack)

        async def readiness() -> dict[str, Any]:
            try:
                await archive.ping()
                store = "ok"
            except QuorraError as exc:
                store = exc.message
            # Redis trouble is not unreadiness: dispatch falls back to Postgres.
            return {"ready": store == "ok", "postgres": store, **broker.health(),
                    **await broker.config_report()}

        rpc = RpcServer(service, api_key=keys.keyring, throttle=throttle,
                        host=settings.grpc_addr.host, port=settings.grpc_addr.port,
                        directory=workers, limits=settings.limits,
                        max_message_bytes=grpc_message_bytes(settings.max_body_bytes,
                                                             settings.limits.max_payload_bytes),
                        grace=settings.shutdown_grace, credentials=_grpc_credentials(settings))
        await rpc.start()
        stack.push_async_callback(rpc.stop)
        app = create_app(service, api_key=settings.api_key, registry=registry,
                         readiness=readiness, liveness=watchdog.verdict, limits=settings.limits,
                         max_body_bytes=settings.max_body_bytes, workers=workers,
                         dispatch_mode=lambda: _mode(broker), throughput=throughput,
                         schedules=schedules, keyring=keys.keyring, keys=keys,
                         throttle=throttle, protect_metrics=settings.protect_metrics,
                         webhooks=webhooks, cluster=cluster)
        yield Runtime(settings=settings, service=service, app=app, mode=_mode(broker), rpc=rpc,
                      workers=workers, keys=keys, cluster=cluster)
