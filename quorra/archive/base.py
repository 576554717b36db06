"""The archive interface: what the REST API, dashboard and gauges read."""

from __future__ import annotations

import uuid
from typing import Protocol

from quorra.core.jobs import Job, QueueCount

__all__ = ["Archive"]


class Archive(Protocol):
    async def get(self, job_id: uuid.UUID) -> Job:
        """The job, or ``JobNotFound``."""

    async def recent(self, limit: int) -> list[Job]:
        """Newest jobs first."""

    async def queue_counts(self) -> list[QueueCount]:
        """Job counts by queue and status (only non-zero ones)."""

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers."""
