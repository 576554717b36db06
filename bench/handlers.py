"""Handlers for the worker benchmarks (``quorra-worker --handlers handlers`` with bench/ on
PYTHONPATH)."""

from __future__ import annotations

import time

from quorra.worker import Job, handler


@handler("noop")
async def noop(job: Job) -> None:
    return None


@handler("latency")
async def latency(job: Job) -> float:
    """Seconds from the producer's clock at enqueue to this handler starting."""
    return time.time() - float(job.payload["t0"])
