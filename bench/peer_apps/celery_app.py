"""Celery app (Redis broker, no result backend): ``celery -A peer_apps.celery_app worker``."""

from __future__ import annotations

import os

import job_bodies as jb
from celery import Celery

app = Celery("qpeers", broker=os.environ.get("QUORRA_PEERS_BROKER_URL",
                                             "redis://127.0.0.1:6379/2"))
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True,
                task_default_queue="qpeers")


@app.task(name="qpeers.sync_incr")
def sync_incr() -> None:
    jb.sync_incr()


@app.task(name="qpeers.sync_cpu")
def sync_cpu() -> None:
    jb.sync_cpu()


@app.task(name="qpeers.empty_sync")
def empty_sync() -> None:
    jb.empty_sync()


@app.task(name="qpeers.latency")
def latency(sent: float) -> None:
    jb.latency_sync(sent)
