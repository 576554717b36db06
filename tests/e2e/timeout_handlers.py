"""Handlers of the time-limit e2e tests (``quorra-worker --handlers tests.e2e.timeout_handlers``):
each appends what happened to the file named by ``TIMEOUT_RUNS_FILE``, one line per event
(``<event> <job id> <attempt> <wall time>``), so the test sees the runs outside Quorra."""

from __future__ import annotations

import asyncio
import os
import time

from quorra.worker import Job, handler

__all__ = ["RUNS_FILE_ENV", "hang_async", "hang_sync", "quick"]

RUNS_FILE_ENV = "TIMEOUT_RUNS_FILE"


def _note(event: str, job: Job) -> None:
    line = f"{event} {job.id} {job.attempts} {time.time():.6f}\n"
    with open(os.environ[RUNS_FILE_ENV], "a") as out:
        out.write(line)


@handler("hang_async")
async def hang_async(job: Job) -> None:
    _note("start", job)
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        _note("cancelled", job)
        raise


@handler("hang_sync")
def hang_sync(job: Job) -> str:
    _note("start", job)
    time.sleep(float(job.payload.get("seconds", 4)))  # cannot be interrupted
    _note("timed_out" if job.timed_out else "returned", job)
    return "late"


@handler("quick")
async def quick(job: Job) -> str:
    _note("quick", job)
    return "ok"
