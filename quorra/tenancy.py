"""``TenantJobs``: the job use-cases as one tenant sees them, for the front doors.

It wraps ``JobService`` for a principal with a tenant (``jobs_for`` hands back the service
itself for one without): queue names go in as ``<tenant>~<queue>`` and come out as ``<queue>``;
a job of another tenant is ``JobNotFound`` (404 / NOT_FOUND) for every read and change by id;
listings, counts, paused queues and limits hold only the tenant's queues; a bulk cancel must
name a queue; a job may depend only on the tenant's jobs; a client-chosen id taken by another
tenant's job is refused rather than answered."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import msgspec

from quorra.archive.base import JobFilter, JobPage
from quorra.core.errors import InvalidInput, JobNotFound
from quorra.core.jobs import Enqueued, Job, JobSpec, QueueCount
from quorra.core.keys import Principal
from quorra.core.limits import QueueLimits
from quorra.core.tenancy import owns, shown_queue, stored_queue, tenant_prefix
from quorra.service import JobService

__all__ = ["Jobs", "TenantJobs", "jobs_for"]


class TenantJobs:
    def __init__(self, service: JobService, principal: Principal) -> None:
        self.service = service
        self.principal = principal

    def stored(self, queue: str, field: str = "queue") -> str:
        return stored_queue(self.principal, queue, field)

    def shown(self, job: Job) -> Job:
        return msgspec.structs.replace(job, queue=shown_queue(self.principal, job.queue))

    def _own(self, job: Job) -> Job:
        if not owns(self.principal, job.queue):
            raise JobNotFound()
        return job

    async def enqueue(self, specs: Sequence[JobSpec]) -> list[Enqueued]:
        mine = [msgspec.structs.replace(spec, queue=self.stored(spec.queue)) for spec in specs]
        await self._check_dependencies(mine)
        done = await self.service.enqueue(mine)
        for item in done:  # created false: an id already stored, perhaps by another tenant
            if not (item.created or item.duplicate or await self._owned(item.id)):
                raise InvalidInput("id", "this id is taken")
        return done

    async def _owned(self, job_id: uuid.UUID) -> bool:
        return owns(self.principal, (await self.service.get(job_id)).queue)

    async def _check_dependencies(self, specs: Sequence[JobSpec]) -> None:
        for spec in specs:
            for parent in spec.depends_on or ():
                try:
                    self._own(await self.service.get(parent))
                except JobNotFound:
                    raise InvalidInput("depends_on", f"unknown job {parent}") from None

    async def get(self, job_id: uuid.UUID) -> Job:
        return self.shown(self._own(await self.service.get(job_id)))

    async def retry(self, job_id: uuid.UUID) -> Job:
        await self.get(job_id)
        return self.shown(await self.service.retry(job_id))

    async def cancel(self, job_id: uuid.UUID) -> Job:
        await self.get(job_id)
        return self.shown(await self.service.cancel(job_id))

    async def delete(self, job_id: uuid.UUID) -> None:
        await self.get(job_id)
        await self.service.delete(job_id)

    async def list_jobs(self, where: JobFilter, *, limit: int,
                        after: tuple[datetime, uuid.UUID] | None = None,
                        max_bytes: int | None = None) -> JobPage:
        scoped = msgspec.structs.replace(
            where, queue=self.stored(where.queue) if where.queue else None,
            prefix=tenant_prefix(self.principal.tenant))
        page = await self.service.list_jobs(scoped, limit=limit, after=after,
                                            max_bytes=max_bytes)
        return msgspec.structs.replace(page, jobs=[self.shown(job) for job in page.jobs])

    async def cancel_many(self, queue: str | None, job_type: str | None) -> int:
        if queue is None:
            raise InvalidInput("queue", "a tenant's bulk cancel names a queue")
        return await self.service.cancel_many(self.stored(queue), job_type)

    async def retry_dead(self, queue: str) -> int:
        return await self.service.retry_dead(self.stored(queue))

    async def set_paused(self, queue: str, paused: bool) -> None:
        await self.service.set_paused(self.stored(queue), paused)

    async def set_limits(self, queue: str, limits: QueueLimits) -> QueueLimits:
        return await self.service.set_limits(self.stored(queue), limits)

    async def get_limits(self, queue: str) -> QueueLimits:
        return await self.service.get_limits(self.stored(queue))

    async def queue_counts(self) -> list[QueueCount]:
        return [msgspec.structs.replace(c, queue=shown_queue(self.principal, c.queue))
                for c in await self.service.queue_counts() if owns(self.principal, c.queue)]

    async def paused_queues(self) -> list[str]:
        return [shown_queue(self.principal, q) for q in await self.service.paused_queues()
                if owns(self.principal, q)]

    async def queue_limits(self) -> dict[str, QueueLimits]:
        return {shown_queue(self.principal, q): limits
                for q, limits in (await self.service.queue_limits()).items()
                if owns(self.principal, q)}


Jobs = JobService | TenantJobs


def jobs_for(service: JobService, principal: Principal) -> Jobs:
    """The use-cases as ``principal`` sees them: all of them without a tenant."""
    return service if principal.tenant is None else TenantJobs(service, principal)
