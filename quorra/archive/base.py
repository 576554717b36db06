"""The archive interface: what the REST API, dashboard and gauges read."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

import msgspec

from quorra.core.jobs import Job, JobStatus, QueueCount
from quorra.core.limits import QueueLimits
from quorra.core.schedules import Schedule

__all__ = ["Archive", "JobFilter", "JobPage", "ScheduleStore", "Ticks", "page_of"]


class JobFilter(msgspec.Struct, frozen=True):
    """Which jobs to list: every given field must match (``None``: any); ``prefix``: the
    stored queue name starts with it (a tenant's ``<tenant>~``); ``payload``: JSON text of an
    object the payload contains (``@>``); ``ids``: the inclusive range of ids (an id prefix)."""

    queue: str | None = None
    status: JobStatus | None = None
    type: str | None = None
    prefix: str | None = None
    payload: str | None = None
    ids: tuple[uuid.UUID, uuid.UUID] | None = None


class JobPage(msgspec.Struct, frozen=True):
    """One page of a newest-first listing; ``after`` is the keyset position of the next page."""

    jobs: list[Job]
    after: tuple[datetime, uuid.UUID] | None


def page_of(jobs: list[Job], *, more: bool) -> JobPage:
    """The page showing ``jobs``; when ``more`` follow, the next one starts after the last."""
    if not (more and jobs):
        return JobPage(jobs=jobs, after=None)
    return JobPage(jobs=jobs, after=(jobs[-1].created_at, jobs[-1].id))


class Archive(Protocol):
    async def get(self, job_id: uuid.UUID) -> Job:
        """The job, or ``JobNotFound``."""

    async def recent(self, limit: int) -> list[Job]:
        """Newest jobs first."""

    async def list_jobs(self, where: JobFilter, *, limit: int,
                        after: tuple[datetime, uuid.UUID] | None = None,
                        max_bytes: int | None = None) -> JobPage:
        """Newest first (``created_at``, then ``id``), strictly after the keyset ``after``; at
        most ``limit`` jobs, and with ``max_bytes`` it stops once the payloads and results
        shown (as stored) reach that many bytes (always at least one job)."""

    async def queue_counts(self) -> list[QueueCount]:
        """Job counts by queue and status (only non-zero ones)."""

    async def queue_states(self) -> list[tuple[str, bool]]:
        """``(queue, paused)`` for every queue ever paused, by name."""

    async def queue_limits(self) -> dict[str, QueueLimits]:
        """Every limited queue's limits, by name."""

    async def ready_for(self, queues: list[str], age: float) -> bool:
        """Whether a job of ``queues`` has been ready (pending, due) for over ``age`` seconds."""

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers."""


class Ticks(Protocol):
    """Due schedules claimed (locked) by one replica; ``advance`` records a tick, committed
    with the claim."""

    due: list[Schedule]

    async def advance(self, name: str, *, fired_at: datetime, job_id: uuid.UUID,
                      next_run_at: datetime) -> None:
        """Record that ``name`` fired at ``fired_at`` (its job ``job_id``); next at
        ``next_run_at``."""


class ScheduleStore(Protocol):
    async def create(self, schedule: Schedule) -> Schedule:
        """Store a new schedule; ``InvalidTransition`` if the name is taken."""

    async def replace(self, schedule: Schedule) -> Schedule:
        """Create or replace the schedule of that name."""

    async def get(self, name: str) -> Schedule:
        """The schedule, or ``ScheduleNotFound``."""

    async def list(self, limit: int) -> list[Schedule]:
        """By name."""

    async def delete(self, name: str) -> None:
        """Remove it for good, or ``ScheduleNotFound``."""

    async def set_paused(self, name: str, paused: bool, next_run_at: datetime) -> Schedule:
        """Pause, or resume firing next at ``next_run_at``; ``ScheduleNotFound`` if unknown."""

    def claim_due(self, limit: int) -> AbstractAsyncContextManager[Ticks]:
        """Lock up to ``limit`` due, unpaused schedules for the block; other replicas skip
        them."""
