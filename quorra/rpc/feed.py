"""Leasing for open streams: a ``Feed`` leases as soon as jobs are ready, waking on the service's
wake-up (enqueues in this process at once, other replicas through LISTEN/NOTIFY, a bounded
polling backup for delays and lost notifications). No sleep loop: an idle stream awaits events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Iterable, Sequence
from datetime import UTC, datetime

from quorra.core.jobs import Job
from quorra.service import JobService

__all__ = ["Feed", "Window", "first_of"]

IDLE_WAIT = 30.0  # the service bounds it further (its polling backup)


async def first_of(*waits: Awaitable[object], timeout: float | None = None) -> None:
    """Return when the first of ``waits`` finishes (or after ``timeout``); cancel the rest."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class Feed:
    """Leases jobs of some queues for one worker; ``take`` waits until at least one is ready
    or one of the ``stops`` events is set (then it returns ``[]``)."""

    def __init__(self, service: JobService, queues: Sequence[str], *, worker_id: str,
                 ttl: float, stops: Iterable[asyncio.Event]) -> None:
        self.service = service
        self.queues = list(queues)
        self.worker_id = worker_id
        self.ttl = ttl
        self.stops = list(stops)

    def stopped(self) -> bool:
        return any(stop.is_set() for stop in self.stops)

    async def take(self, limit: int) -> list[Job]:
        while not self.stopped():
            # Listen before looking: a job committed after the lease query's snapshot wakes us.
            wake = asyncio.ensure_future(self.service.wait_for_jobs(self.queues, IDLE_WAIT))
            try:
                jobs = await self.service.lease(self.queues, worker_id=self.worker_id,
                                                limit=limit, ttl=self.ttl)
            except BaseException:
                wake.cancel()
                raise
            if jobs:
                wake.cancel()
                return jobs
            await first_of(wake, *(stop.wait() for stop in self.stops))
        return []

    async def give_back(self, jobs: Sequence[Job]) -> None:
        """Release jobs that were leased but never delivered (not a failed attempt)."""
        leases = [(job.id, job.lease_id) for job in jobs if job.lease_id is not None]
        if leases:
            await asyncio.shield(self.service.release(leases))


class Window:
    """The in-flight jobs of one follow-mode ``LeaseJobs`` stream: a slot frees when the job is
    settled (through any call) or its lease deadline passes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.deadlines: dict[uuid.UUID, float] = {}
        self.changed = asyncio.Event()

    def credit(self) -> int:
        now = time.monotonic()
        for lease_id in [k for k, deadline in self.deadlines.items() if deadline <= now]:
            del self.deadlines[lease_id]
        return self.size - len(self.deadlines)

    def add(self, job: Job) -> None:
        if job.lease_id is not None and job.lease_expires_at is not None:
            self.deadlines[job.lease_id] = _monotonic(job.lease_expires_at)

    def extend(self, lease_id: uuid.UUID, deadline: datetime) -> None:
        if lease_id in self.deadlines:
            self.deadlines[lease_id] = _monotonic(deadline)

    def settle(self, lease_id: uuid.UUID) -> None:
        if self.deadlines.pop(lease_id, None) is not None:
            self.changed.set()

    def seconds_to_next_expiry(self) -> float | None:
        if not self.deadlines:
            return None
        return max(min(self.deadlines.values()) - time.monotonic(), 0.0)


def _monotonic(deadline: datetime) -> float:
    return time.monotonic() + (deadline - datetime.now(UTC)).total_seconds()
