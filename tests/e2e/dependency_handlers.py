"""Handlers of the dependency e2e tests (``quorra-worker --handlers
tests.e2e.dependency_handlers``): ``step`` notes its start and end (``<event> <job id> <wall
time>``) in the file named by ``DEPENDENCY_RUNS_FILE`` around an optional sleep (payload
``seconds``); ``boom`` always fails."""

from __future__ import annotations

import asyncio
import os
import time

from quorra.worker import Job, handler

__all__ = ["RUNS_FILE_ENV", "boom", "step"]

RUNS_FILE_ENV = "DEPENDENCY_RUNS_FILE"


def _note(event: str, job: Job) -> None:
    with open(os.environ[RUNS_FILE_ENV], "a") as out:
        out.write(f"{event} {job.id} {time.time():.6f}\n")


@handler("step")
async def step(job: Job) -> None:
    _note("start", job)
    await asyncio.sleep(float(job.payload.get("seconds", 0)))
    _note("end", job)


@handler("boom")
async def boom(job: Job) -> None:
    raise RuntimeError("boom")
