"""ScheduleService: cron schedules' use-cases (the REST API and housekeeping call it).

Each tick enqueues exactly one job, with several replicas and across restarts: a replica
claims due schedules with ``FOR UPDATE SKIP LOCKED`` (``ScheduleStore.claim_due``), enqueues
each tick's job under an id derived from the schedule's name and the tick's time
(``tick_id``), and records the tick in the same transaction as the claim. A replica that dies
between the enqueue and that commit leaves the schedule due; the next claim enqueues the same
id again, which stores nothing new. After downtime a schedule fires once for the ticks it
missed (its oldest), then goes on from the next tick after now.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from quorra.archive.base import ScheduleStore, Ticks
from quorra.core.schedules import Schedule, next_fire, tick_spec
from quorra.service import JobService

__all__ = ["ScheduleService"]

log = logging.getLogger(__name__)
MAX_LISTED = 1000


class ScheduleService:
    def __init__(self, store: ScheduleStore, jobs: JobService) -> None:
        self.store = store
        self.jobs = jobs

    async def create(self, schedule: Schedule) -> Schedule:
        return await self.store.create(schedule)

    async def replace(self, schedule: Schedule) -> Schedule:
        return await self.store.replace(schedule)

    async def get(self, name: str) -> Schedule:
        return await self.store.get(name)

    async def list(self) -> list[Schedule]:
        return await self.store.list(MAX_LISTED)

    async def delete(self, name: str) -> None:
        await self.store.delete(name)

    async def pause(self, name: str) -> Schedule:
        current = await self.store.get(name)
        return await self.store.set_paused(name, True, current.next_run_at)

    async def resume(self, name: str) -> Schedule:
        current = await self.store.get(name)
        upcoming = next_fire(current.cron, current.timezone, datetime.now(UTC))
        return await self.store.set_paused(name, False, upcoming)

    async def fire_due(self, limit: int = 100) -> int:
        """Enqueue the job of every due tick (up to ``limit`` schedules); returns how many."""
        async with self.store.claim_due(limit) as ticks:
            if ticks.due:
                await self._fire(ticks)
            fired = len(ticks.due)
        self.jobs.metrics.schedule_ticks.inc(fired)  # the ticks are committed
        return fired

    async def _fire(self, ticks: Ticks) -> None:
        specs = [tick_spec(schedule, schedule.next_run_at) for schedule in ticks.due]
        await self.jobs.enqueue(specs)  # committed before the ticks are recorded
        now = datetime.now(UTC)
        for schedule, spec in zip(ticks.due, specs, strict=True):
            upcoming = next_fire(schedule.cron, schedule.timezone, max(now, schedule.next_run_at))
            await ticks.advance(schedule.name, fired_at=schedule.next_run_at, job_id=spec.id,
                                next_run_at=upcoming)
        log.debug("fired %d schedules", len(specs))
