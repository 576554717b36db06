"""streaQ worker (Redis Streams, consumer group): ``streaq run peer_apps.streaq_app:worker``.
A ``def`` task runs in streaQ's own thread pool (anyio, limited to the concurrency)."""

from __future__ import annotations

import os

import job_bodies as jb
from streaq import Worker

worker = Worker(redis_url=os.environ.get("QUORRA_PEERS_BROKER_URL", "redis://127.0.0.1:6379/1"),
                queue_name="qpeers",
                concurrency=int(os.environ.get("QUORRA_PEERS_CONCURRENCY", "10")))


# silent: no per-task INFO line (the CLI has no log level option)
@worker.task(silent=True)
def sync_incr() -> None:
    jb.sync_incr()


@worker.task(silent=True)
def sync_cpu() -> None:
    jb.sync_cpu()


@worker.task(silent=True)
async def async_incr() -> None:
    await jb.async_incr()


@worker.task(silent=True)
async def async_sleep() -> None:
    await jb.async_sleep()


@worker.task(silent=True)
async def empty_async() -> None:
    await jb.empty_async()


@worker.task(silent=True)
async def latency(sent: float) -> None:
    await jb.latency_async(sent)
