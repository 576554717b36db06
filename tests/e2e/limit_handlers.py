"""Handlers of the queue-limit e2e tests (``quorra-worker --handlers tests.e2e.limit_handlers``):
each appends ``<event> <job id> <wall time>`` to the file named by ``LIMIT_RUNS_FILE`` (appends
of one short line are atomic), so the test sees from outside Quorra how many ran at once and
how fast they started."""

from __future__ import annotations

import asyncio
import os
import time

from quorra.worker import Job, handler

__all__ = ["RUNS_FILE_ENV", "capped", "rated"]

RUNS_FILE_ENV = "LIMIT_RUNS_FILE"


def _note(event: str, job: Job) -> None:
    with open(os.environ[RUNS_FILE_ENV], "a") as out:
        out.write(f"{event} {job.id} {time.time():.6f}\n")


@handler("capped")
async def capped(job: Job) -> None:
    _note("start", job)
    await asyncio.sleep(float(job.payload.get("seconds", 0.1)))
    _note("end", job)


@handler("rated")
async def rated(job: Job) -> None:
    _note("start", job)
