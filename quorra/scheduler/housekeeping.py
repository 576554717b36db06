"""Periodic chores on every replica. Each is safe to run on many replicas at once: the reaper
claims expired leases with SKIP LOCKED, the gauge reads the shared store."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from quorra.core.errors import QuorraError
from quorra.core.tasks import report_failure
from quorra.service import JobService

__all__ = ["Housekeeping"]

log = logging.getLogger(__name__)
# APScheduler logs every run of every chore at INFO: once a second is noise, not news.
logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


class Housekeeping:
    def __init__(self, service: JobService, *, reap_interval: float = 1.0,
                 gauge_interval: float = 5.0) -> None:
        self._service = service
        self._scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 5},
            timezone="UTC",
        )
        self._add("reap_expired_leases", self.reap, reap_interval)
        self._add("refresh_queue_gauge", service.refresh_queue_gauge, gauge_interval)

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

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
