"""Settling leases (ack, nack, release, extend) for the unary calls and the session alike, and
the registry that frees follow-stream window slots whichever call settles a job."""

from __future__ import annotations

import uuid
from datetime import datetime

from quorra.core.errors import LeaseLost
from quorra.core.jobs import JobStatus
from quorra.rpc.feed import Window
from quorra.service import JobService

__all__ = ["Settle", "Windows", "settle"]


class Settle:
    """One settlement as the wire describes it."""

    __slots__ = ("error", "job_id", "lease_id", "no_retry", "release", "result", "success")

    def __init__(self, job_id: uuid.UUID, lease_id: uuid.UUID, *, success: bool,
                 error: str = "", result: object = None, no_retry: bool = False,
                 release: bool = False) -> None:
        self.job_id = job_id
        self.lease_id = lease_id
        self.success = success
        self.error = error
        self.result = result
        self.no_retry = no_retry
        self.release = release


class Windows:
    """lease id → the follow stream whose window holds it."""

    def __init__(self) -> None:
        self._by_lease: dict[uuid.UUID, Window] = {}

    def __len__(self) -> int:
        return len(self._by_lease)

    def track(self, lease_id: uuid.UUID, window: Window) -> None:
        self._by_lease[lease_id] = window

    def expired(self, lease_id: uuid.UUID) -> None:
        """The window let the lease go unsettled (its deadline passed): forget it."""
        self._by_lease.pop(lease_id, None)

    def settled(self, lease_id: uuid.UUID) -> None:
        window = self._by_lease.pop(lease_id, None)
        if window is not None:
            window.settle(lease_id)

    def extended(self, lease_id: uuid.UUID, deadline: datetime) -> None:
        window = self._by_lease.get(lease_id)
        if window is not None:
            window.extend(lease_id, deadline)

    def forget(self, window: Window) -> None:
        for lease_id in list(window.deadlines):
            self._by_lease.pop(lease_id, None)


async def settle(service: JobService, windows: Windows, item: Settle) -> JobStatus:
    """Apply one settlement; returns the job's new status. Raises ``LeaseLost``/``JobNotFound``."""
    try:
        if item.release:
            if not await service.release([(item.job_id, item.lease_id)]):
                raise LeaseLost()
            return JobStatus.PENDING
        if item.success:
            return (await service.ack(item.job_id, item.lease_id, item.result)).status
        error = item.error or "failed (no error message)"
        settled = await service.nack(item.job_id, item.lease_id, error, retry=not item.no_retry)
        return settled.status
    finally:
        windows.settled(item.lease_id)
