"""Operator API, dashboard and metrics tests: an in-process stack over the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import CollectorRegistry

from quorra.archive.postgres import PostgresArchive
from quorra.archive.schedules import PostgresSchedules
from quorra.broker.postgres import PostgresBroker
from quorra.db.pool import create_pool
from quorra.http.app import create_app
from quorra.metrics import Metrics
from quorra.scheduling import ScheduleService
from quorra.service import JobService
from quorra.worker_directory import WorkerDirectory

API_KEY = "test-key-issue5-operator"


@dataclass
class Stack:
    service: JobService
    metrics: Metrics
    registry: CollectorRegistry
    workers: WorkerDirectory
    app: Litestar
    url: str
    schedules: ScheduleService


@pytest.fixture
async def stack(clean_db: str) -> AsyncIterator[Stack]:
    pool = create_pool(clean_db, max_size=8, timeout=5)
    await pool.open(wait=True)
    broker = PostgresBroker(pool, clean_db)
    await broker.start()
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    service = JobService(broker, PostgresArchive(pool), metrics)
    workers = WorkerDirectory()

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    schedules = ScheduleService(PostgresSchedules(pool), service)
    app = create_app(service, api_key=API_KEY, registry=registry, readiness=readiness,
                     workers=workers, schedules=schedules)
    try:
        yield Stack(service, metrics, registry, workers, app, clean_db, schedules)
    finally:
        await broker.close()
        await pool.close()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=stack.app) as test_client:
        test_client.headers["X-API-Key"] = API_KEY
        yield test_client
