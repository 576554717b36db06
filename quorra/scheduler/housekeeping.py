"""Periodic chores on every replica. Each is safe to run on many replicas at once: the reaper
and retention claim rows with SKIP LOCKED (each row is handled once), the count fold takes the
deltas it deletes, the gauge reads the shared store."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from quorra.core.errors import QuorraError
from quorra.core.jobs import JobStatus
from quorra.core.tasks import report_failure
from quorra.service import JobService

__all__ = ["RETENTION_BATCH", "RETENTION_MAX_BATCHES", "Housekeeping"]

log = logging.getLogger(__name__)
# APScheduler logs every run of every chore at INFO: once a second is noise, not news.
logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)

RETENTION_BATCH = 1000  # rows per DELETE statement: short transactions, short row locks
RETENTION_MAX_BATCHES = 20  # statements per status and tick: a backlog drains over ticks


class Housekeeping:
    def __init__(self, service: JobService, *, reap_interval: float = 1.0,
                 gauge_interval: float = 5.0, retention: Mapping[JobStatus, float] | None = None,
                 retention_interval: float = 60.0) -> None:
        self._service = service
        self._retention = {status: age for status, age in (retention or {}).items() if age > 0}
        self._scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 5},
            timezone="UTC",
        )
        self._add("reap_expired_leases", self.reap, reap_interval)
        self._add("refresh_queue_gauge", service.refresh_queue_gauge, gauge_interval)
        self._add("fold_finished_counts", service.fold_counts, gauge_interval)
        if self._retention:
            self._add("delete_finished_jobs", self.purge, retention_interval)

    def add_chore(self, name: str, chore: Callable[[], Awaitable[object]], every: float) -> None:
        """Run ``chore`` every ``every`` seconds (store errors are logged and skipped; any
        other failure is logged at ERROR and counted, and the chore runs again on time)."""
        self._add(name, chore, every)

    def _add(self, name: str, chore: Callable[[], Awaitable[object]], every: float) -> None:
        async def run() -> None:
            try:
                await chore()
            except QuorraError as exc:
                log.warning("%s skipped: %s", name, exc)
            except Exception as exc:  # the scheduler runs it again at the next interval
                report_failure(f"quorra-chore-{name}", exc, f"it runs again in {every:g}s")

        self._scheduler.add_job(run, IntervalTrigger(seconds=every), id=name, name=name)

    async def reap(self) -> int:
        """Reap until no expired lease is left; returns how many were reaped."""
        total = 0
        for _ in range(100):
            reaped = await self._service.reap_expired()
            total += len(reaped)
            if len(reaped) < 500:
                break
        if total:
            log.info("reaped %d expired leases", total)
        return total

    async def purge(self) -> int:
        """One retention tick: delete the finished jobs past their status's age, in batches of
        ``RETENTION_BATCH`` rows, at most ``RETENTION_MAX_BATCHES`` per status."""
        total = 0
        for status, age in self._retention.items():
            total += await self._service.purge_finished(
                status, age, batch=RETENTION_BATCH, max_batches=RETENTION_MAX_BATCHES)
        if total:
            log.info("retention deleted %d finished jobs", total)
        return total

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
