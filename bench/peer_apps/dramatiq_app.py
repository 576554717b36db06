"""Dramatiq actors (Redis broker, default middleware plus ``AsyncIO`` for the ``async def``
actors): ``dramatiq peer_apps.dramatiq_app --processes 2 --threads 8``."""

from __future__ import annotations

import os

import dramatiq
import job_bodies as jb
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.asyncio import AsyncIO

broker = RedisBroker(url=os.environ.get("QUORRA_PEERS_BROKER_URL", "redis://127.0.0.1:6379/3"))
broker.add_middleware(AsyncIO())
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="qpeers", max_retries=0)
def sync_incr() -> None:
    jb.sync_incr()


@dramatiq.actor(queue_name="qpeers", max_retries=0)
def sync_cpu() -> None:
    jb.sync_cpu()


@dramatiq.actor(queue_name="qpeers", max_retries=0)
def empty_sync() -> None:
    jb.empty_sync()


@dramatiq.actor(queue_name="qpeers", max_retries=0)
async def async_incr() -> None:
    await jb.async_incr()


@dramatiq.actor(queue_name="qpeers", max_retries=0)
async def async_sleep() -> None:
    await jb.async_sleep()


@dramatiq.actor(queue_name="qpeers", max_retries=0)
async def empty_async() -> None:
    await jb.empty_async()


@dramatiq.actor(queue_name="qpeers", max_retries=0)
def latency(sent: float) -> None:
    jb.latency_sync(sent)
