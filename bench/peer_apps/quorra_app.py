"""Quorra handlers for the peer comparison: ``quorra-worker --handlers peer_apps.quorra_app``."""

from __future__ import annotations

import job_bodies as jb

from quorra.worker import Job, handler


@handler("sync_incr")
def sync_incr(job: Job) -> None:
    jb.sync_incr()


@handler("sync_cpu")
def sync_cpu(job: Job) -> None:
    jb.sync_cpu()


@handler("empty_sync")
def empty_sync(job: Job) -> None:
    jb.empty_sync()


@handler("async_incr")
async def async_incr(job: Job) -> None:
    await jb.async_incr()


@handler("async_sleep")
async def async_sleep(job: Job) -> None:
    await jb.async_sleep()


@handler("empty_async")
async def empty_async(job: Job) -> None:
    await jb.empty_async()


@handler("latency")
async def latency(job: Job) -> None:
    await jb.latency_async(job.payload["t"])
