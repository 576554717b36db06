"""Liveness that tells the truth: dispatch is *stalled* when a connected worker has had free
slots and no job for longer than ``threshold`` seconds while one of its queues has held a ready
job for longer than that. A live replica hands such a job out within its polling interval, so a
stall means a bug; ``/healthz`` then fails (an orchestrator restarts the replica) and
``quorra_dispatch_stalled`` reads 1.

A store outage is not a stall (readiness reports it), and the check asks the store only when
some worker has waited past the threshold."""

from __future__ import annotations

import logging
import time

from quorra.core.errors import QuorraError
from quorra.metrics import Metrics
from quorra.service import JobService
from quorra.worker_directory import ConnectedWorker, WorkerDirectory

__all__ = ["DispatchWatchdog"]

log = logging.getLogger(__name__)


class DispatchWatchdog:
    def __init__(self, service: JobService, directory: WorkerDirectory, metrics: Metrics, *,
                 threshold: float = 30.0, fresh_for: float = 1.0) -> None:
        self._service = service
        self._directory = directory
        self._metrics = metrics
        self.threshold = threshold
        self._fresh_for = fresh_for
        self._checked_at = 0.0
        self.stall: str | None = None  # what is stalled, or None

    async def verdict(self) -> str | None:
        """The stall found by a check at most ``fresh_for`` seconds old (None: alive)."""
        if time.monotonic() - self._checked_at > self._fresh_for:
            await self.check()
        return self.stall

    async def check(self) -> None:
        self._checked_at = time.monotonic()
        stall = None
        for worker in self._starving():
            if await self._ready_for(worker):
                stall = (f"dispatch stalled: worker {worker.worker_id} has had free slots for "
                         f"{time.time() - worker.waiting_since:.0f}s while jobs of "
                         f"{','.join(worker.queues)} were ready")
                break
        if stall and stall != self.stall:
            log.error("%s; liveness fails until it clears", stall)
        self.stall = stall
        self._metrics.dispatch_stalled.set(1 if stall else 0)

    def _starving(self) -> list[ConnectedWorker]:
        since = time.time() - self.threshold
        return [w for w in self._directory.snapshot() if 0 < w.waiting_since < since]

    async def _ready_for(self, worker: ConnectedWorker) -> bool:
        try:
            return await self._service.ready_for(worker.queues, self.threshold)
        except QuorraError:  # the store is away: readiness says so, it is not a stall
            return False
