"""The archive interface: what the REST API, dashboard and gauges read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

import msgspec

from quorra.core.jobs import Job, JobStatus, QueueCount

__all__ = ["Archive", "JobFilter", "JobPage"]


class JobFilter(msgspec.Struct, frozen=True):
    """Which jobs to list: every given field must match (``None``: any)."""

    queue: str | None = None
    status: JobStatus | None = None
    type: str | None = None


class JobPage(msgspec.Struct, frozen=True):
    """One page of a newest-first listing; ``after`` is the keyset position of the next page."""

    jobs: list[Job]
    after: tuple[datetime, uuid.UUID] | None


class Archive(Protocol):
    async def get(self, job_id: uuid.UUID) -> Job:
        """The job, or ``JobNotFound``."""

    async def recent(self, limit: int) -> list[Job]:
        """Newest jobs first."""

    async def list_jobs(self, where: JobFilter, *, limit: int,
                        after: tuple[datetime, uuid.UUID] | None = None) -> JobPage:
        """Newest first (``created_at``, then ``id``), strictly after the keyset ``after``."""

    async def queue_counts(self) -> list[QueueCount]:
        """Job counts by queue and status (only non-zero ones)."""

    async def queue_states(self) -> list[tuple[str, bool]]:
        """``(queue, paused)`` for every queue ever paused, by name."""

    async def ready_for(self, queues: list[str], age: float) -> bool:
        """Whether a job of ``queues`` has been ready (pending, due) for over ``age`` seconds."""

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers."""
