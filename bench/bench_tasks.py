"""Handlers for the drain and steady-state benchmarks (``quorra-worker --handlers bench_tasks``).

``bench.noop`` does nothing but note, in this worker process, which job it ran, when the
producer sent it (``payload.t``), when it started, and its ``created_at`` (the store's clock).
The notes go to ``$QUORRA_BENCH_TALLY`` when the worker exits, so the benchmark counts
executions itself, outside Quorra.
"""

from __future__ import annotations

import atexit
import os
import time
from pathlib import Path

from quorra.worker import Job, handler

_TALLY = os.environ.get("QUORRA_BENCH_TALLY", "")
_runs: list[str] = []


@handler("bench.noop")
async def noop(job: Job) -> None:
    created = job.created_at.timestamp() if job.created_at else 0.0
    _runs.append(f"{job.id} {job.payload.get('t', 0)} {time.time()} {created}")


def _write() -> None:
    if _TALLY:
        Path(_TALLY).write_text("".join(f"{line}\n" for line in _runs))


atexit.register(_write)
