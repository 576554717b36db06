"""The handler the restart scenario's ``quorra-worker`` runs: it records every run outside
Quorra, one line per run (wall time, job id, attempt, lease id) appended to the file named by
``RESTART_RUNS_FILE``."""

from __future__ import annotations

import os
import time

from quorra.worker import Job, handler

__all__ = ["RUNS_FILE_ENV", "count"]

RUNS_FILE_ENV = "RESTART_RUNS_FILE"
_fd: list[int] = []


def _file() -> int:
    if not _fd:
        _fd.append(os.open(os.environ[RUNS_FILE_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                           0o644))
    return _fd[0]


@handler("count")
async def count(job: Job) -> None:
    os.write(_file(), f"{time.time():.6f} {job.id} {job.attempts} {job.lease_id}\n".encode())
