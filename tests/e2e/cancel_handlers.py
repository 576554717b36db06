"""Handlers for the cancel e2e test, run by a real ``quorra-worker`` (``--handlers``). Each
records what happened to it in files under ``payload["dir"]``, outside Quorra: ``<id>.started``
when it starts, ``<id>.cancelled`` once it saw its cancel, ``<id>.finished`` if it ran to its
end (a cancelled job never should)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from quorra.worker import Job, handler


def _mark(job: Job, what: str) -> None:
    (Path(job.payload["dir"]) / f"{job.id}.{what}").write_text(what)


@handler("cancel_async")
async def sleeps(job: Job) -> None:
    _mark(job, "started")
    try:
        await asyncio.sleep(float(job.payload.get("seconds", 120)))
    except asyncio.CancelledError:
        _mark(job, "cancelled")
        raise
    _mark(job, "finished")


@handler("cancel_sync")
def polls(job: Job) -> None:
    _mark(job, "started")
    deadline = time.monotonic() + float(job.payload.get("seconds", 120))
    while time.monotonic() < deadline:  # bounded: a handler that is never cancelled ends
        if job.cancelled:
            _mark(job, "cancelled")
            return
        time.sleep(0.05)
    _mark(job, "finished")


@handler("quick")
def quick(job: Job) -> str:
    return "done"
