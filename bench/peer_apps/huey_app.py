"""Huey app (RedisHuey, blocking BRPOP): ``huey_consumer peer_apps.huey_app.huey -k thread``."""

from __future__ import annotations

import os

import job_bodies as jb
from huey import RedisHuey

huey = RedisHuey("qpeers", url=os.environ.get("QUORRA_PEERS_BROKER_URL",
                                              "redis://127.0.0.1:6379/4"))


@huey.task()
def sync_incr() -> None:
    jb.sync_incr()


@huey.task()
def sync_cpu() -> None:
    jb.sync_cpu()


@huey.task()
def empty_sync() -> None:
    jb.empty_sync()


@huey.task()
def latency(sent: float) -> None:
    jb.latency_sync(sent)
