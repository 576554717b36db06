"""Handlers of the prefetch tests: a sync handler that notes its start and end outside Quorra
(one line each, appended to the file named by ``PREFETCH_RUNS_FILE``) and sleeps as long as its
payload says."""

from __future__ import annotations

import os
import time

from quorra.worker import Job, handler

__all__ = ["RUNS_FILE_ENV", "hold"]

RUNS_FILE_ENV = "PREFETCH_RUNS_FILE"


def _note(event: str, job: Job) -> None:
    fd = os.open(os.environ[RUNS_FILE_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{event} {time.monotonic():.6f} {job.id}\n".encode())
    finally:
        os.close(fd)


@handler("hold")
def hold(job: Job) -> None:
    _note("start", job)
    time.sleep(float(job.payload.get("seconds", 0)))
    _note("end", job)
