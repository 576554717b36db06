"""Handlers enqueue follow-up jobs through the worker's producer client, against a real server:
an async handler with ``producer()``, a plain one with ``sync_producer()``; a handler that fails
after enqueueing and runs again does not double its follow-up (``followup_id``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from quorra.client import AsyncClient
from quorra.worker import (
    Job,
    Registry,
    Worker,
    WorkerConfig,
    followup_id,
    producer,
    sync_producer,
)
from tests.e2e.process import ServerProcess, start_server
from tests.support import eventually

API_KEY = "e2e-key-issue8-handlers"


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[ServerProcess]:
    with start_server(database_url, API_KEY, name="client-handlers") as srv:
        yield srv


def registry(queue: str) -> Registry:
    handlers = Registry()

    @handlers.handler("parent")
    async def parent(job: Job) -> None:
        await producer().enqueue("child", {"parent": job.id}, queue=queue,
                                 id=followup_id(job, "child"))
        if job.attempts == 1:
            raise RuntimeError("fails once, after enqueueing its follow-up")

    @handlers.handler("child")
    def child(job: Job) -> dict[str, Any]:
        done = sync_producer().enqueue("grandchild", {"parent": job.id}, queue=queue)
        return {"grandchild": done.id}

    @handlers.handler("grandchild")
    def grandchild(job: Job) -> None:
        return None

    return handlers


def jobs(database_url: str, queue: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT type, status, attempts FROM quorra_jobs WHERE queue = %s "
                            "ORDER BY created_at", (queue,)).fetchall()


async def test_handlers_enqueue_follow_ups_once(server: ServerProcess, database_url: str) -> None:
    queue = f"q-{uuid.uuid4().hex[:10]}"
    config = WorkerConfig(worker_id="handlers", queues=(queue,), grpc_addr=server.grpc,
                          api_key=API_KEY, max_jobs=4, shutdown_grace=5)
    worker = Worker(config, registry(queue))
    running = asyncio.create_task(worker.run())
    try:
        async with AsyncClient(server.grpc, api_key=API_KEY) as client:
            await client.enqueue("parent", queue=queue, max_retries=2)

        async def all_done() -> bool:
            rows = await asyncio.to_thread(jobs, database_url, queue)
            return len(rows) == 3 and all(status == "succeeded" for _, status, _ in rows)

        await eventually(all_done, timeout=30, interval=0.1, what="parent, child, grandchild")
    finally:
        worker.stop()
        await asyncio.wait_for(running, 30)
    rows = jobs(database_url, queue)
    assert sorted((t, a) for t, _, a in rows) == [("child", 1), ("grandchild", 1), ("parent", 2)]


def test_producer_outside_a_worker_says_so() -> None:
    with pytest.raises(RuntimeError, match="no running quorra worker"):
        producer()
