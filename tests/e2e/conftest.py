"""A real ``quorra-server`` process on a free port over the test database, Debian's chromium
driven by Playwright, and a way to act as a worker (lease, ack, nack) through the broker."""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from quorra.broker.base import Broker
from quorra.core.jobs import Job
from tests.e2e.process import start_server
from tests.e2e.worker_processes import (
    API_KEY as WORKER_API_KEY,
)
from tests.e2e.worker_processes import (
    Server as WorkerServer,
)
from tests.e2e.worker_processes import (
    StopFn,
    Workers,
    process_env,
    stop_process,
)
from tests.e2e.worker_processes import (
    start_server as start_worker_server,
)
from tests.support import DROP_SCHEMA, free_port, missing

T = TypeVar("T")
API_KEY = "e2e-key-issue5-dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


@dataclass
class Server:
    url: str
    database_url: str

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": API_KEY}, timeout=10)

    def broker(self, use: Callable[[Broker], Awaitable[T]]) -> T:
        """Run ``use`` against a Postgres broker over the server's database (a worker's view)."""
        from quorra.broker.postgres import PostgresBroker
        from quorra.db.pool import create_pool

        async def run() -> T:
            pool = create_pool(self.database_url, max_size=2, timeout=5)
            await pool.open(wait=True)
            broker = PostgresBroker(pool, self.database_url, group_commit=False)
            try:
                return await use(broker)
            finally:
                await pool.close()

        # Playwright's sync API owns this thread's event loop: run ours on another thread.
        with concurrent.futures.ThreadPoolExecutor(1) as pool_thread:
            return pool_thread.submit(lambda: asyncio.run(run())).result(timeout=30)

    def lease(self, queue: str) -> Job:
        async def lease(broker: Broker) -> list[Job]:
            return await broker.lease([queue], worker_id="e2e-worker", limit=1, ttl=60)

        (job,) = self.broker(lease)
        return job

    def fail(self, job: Job, error: str) -> None:
        assert job.lease_id is not None
        lease_id = job.lease_id
        self.broker(lambda b: b.nack(job.id, lease_id, error))

    def succeed(self, job: Job, result: Any) -> None:
        assert job.lease_id is not None
        lease_id = job.lease_id
        self.broker(lambda b: b.ack(job.id, lease_id, result))

    def create(self, **body: Any) -> uuid.UUID:
        with self.api() as client:
            response = client.post("/v1/jobs", json=body)
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["id"])


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[Server]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(DROP_SCHEMA)
    with start_server(database_url, API_KEY, name="dashboard") as process:
        yield Server(url=process.url, database_url=database_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        missing("chromium missing (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright missing (pip install playwright)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


# ---- worker tests (test_workers.py): a restartable server and quorra-worker processes ----


@pytest.fixture(params=["postgres", "redis"])
def mode_server(request: pytest.FixtureRequest, clean_db: str,
                tmp_path: Path) -> Iterator[WorkerServer]:
    """A real server, Postgres-only or in Redis mode (grant leases)."""
    server = start_worker_server(clean_db, tmp_path,
                                 leases="grant" if request.param == "redis" else "postgres")
    yield server
    server.stop()


@pytest.fixture
def worker_server(clean_db: str, tmp_path: Path) -> Iterator[WorkerServer]:
    http_port, grpc_port = free_port(), free_port()
    env = process_env(DATABASE_URL=clean_db, QUORRA_API_KEY=WORKER_API_KEY,
                      QUORRA_LOG_LEVEL="warn", QUORRA_HTTP_ADDR=f"127.0.0.1:{http_port}",
                      QUORRA_GRPC_ADDR=f"127.0.0.1:{grpc_port}", QUORRA_SHUTDOWN_GRACE="5s")
    srv = WorkerServer(env, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}",
                       tmp_path / "server.log")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def workers(worker_server: WorkerServer, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(worker_server, tmp_path)
    yield pool
    for proc in pool.procs:
        stop_process(proc)


@pytest.fixture(name="stop_process")
def stop_process_fixture() -> StopFn:
    return stop_process
