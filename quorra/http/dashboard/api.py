"""The dashboard's own JSON endpoints (session cookie, not the API key)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter

from quorra.core.jobs import JobStatus, QueueCount
from quorra.core.limits import QueueLimits, describe
from quorra.core.schedules import Schedule
from quorra.core.webhooks import Delivery, Webhook
from quorra.http.cluster import replica_view, worker_list
from quorra.http.dashboard.guards import session_guard
from quorra.http.jobs import job_filter, job_page, parse_job_id
from quorra.http.schedules import ScheduleList, schedule_service
from quorra.http.schemas import (
    JobPageView,
    JobView,
    QueueState,
    ReplicaView,
    Retried,
    WorkerView,
    job_view,
)
from quorra.http.webhooks import webhook_service
from quorra.replicas import Cluster, live_throughput, live_workers
from quorra.scheduling import ScheduleService
from quorra.service import JobService

__all__ = ["DashboardApi", "QueueRow", "WebhookOverview"]


class QueueRow(msgspec.Struct):
    queue: str
    counts: dict[str, int]
    total: int
    paused: bool = False
    limits: str = ""  # "3 at once, 50 per 1s" for a limited queue


class Overview(msgspec.Struct):
    mode: str
    queues: list[QueueRow]
    leases_in_flight: int
    throughput: list[tuple[float, float, float, float]]  # every live replica's, added up
    workers: list[WorkerView]  # connected to any live replica
    replicas: list[ReplicaView]


class WebhookOverview(msgspec.Struct):
    webhooks: list[Webhook]  # never a secret
    deliveries: list[Delivery]  # the newest, of every subscription


def queue_rows(counts: list[QueueCount], paused: frozenset[str] = frozenset(),
               limits: dict[str, QueueLimits] | None = None) -> list[QueueRow]:
    """One row per queue with jobs, and per paused or limited queue (even with none)."""
    limits = limits or {}
    rows: dict[str, dict[str, int]] = {q: dict.fromkeys(JobStatus, 0) for q in [*paused, *limits]}
    for count in counts:
        rows.setdefault(count.queue, dict.fromkeys(JobStatus, 0))[count.status.value] = count.count
    return [QueueRow(queue=q, counts=c, total=sum(c.values()), paused=q in paused,
                     limits=describe(limits[q]) if q in limits else "")
            for q, c in sorted(rows.items())]



def _service(state: State) -> JobService:
    service: JobService = state.service
    return service


class DashboardApi(Controller):
    path = "/dashboard/api"
    guards = [session_guard]  # noqa: RUF012
    include_in_schema = False

    @get("/overview")
    async def overview(self, state: State) -> Overview:
        service = _service(state)
        counts = await service.queue_counts()
        paused = frozenset(await service.paused_queues())
        limits = await service.queue_limits()
        cluster: Cluster = state.cluster
        replicas = await cluster.known()
        return Overview(
            mode=state.dispatch_mode(), queues=queue_rows(counts, paused, limits),
            leases_in_flight=sum(c.count for c in counts if c.status is JobStatus.LEASED),
            throughput=live_throughput(replicas),
            workers=worker_list(live_workers(replicas)).workers,
            replicas=[replica_view(r) for r in replicas],
        )

    @get("/jobs")
    async def jobs(
        self, state: State,
        queue: Annotated[str | None, QueryParameter(name="queue")] = None,
        status: Annotated[str | None, QueryParameter(name="status")] = None,
        job_type: Annotated[str | None, QueryParameter(name="type")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200, name="limit")] = 20,
        cursor: Annotated[str | None, QueryParameter(name="cursor")] = None,
        payload: Annotated[str | None, QueryParameter(name="payload")] = None,
        id_prefix: Annotated[str | None, QueryParameter(name="id_prefix")] = None,
    ) -> JobPageView:
        where = job_filter(queue, status, job_type, payload, id_prefix)
        return await job_page(_service(state), where, limit, cursor,
                              state.limits.max_list_bytes)

    @post("/jobs/{job_id:str}/retry", status_code=200)
    async def retry(self, job_id: FromPath[str], state: State) -> JobView:
        return job_view(await _service(state).retry(parse_job_id(job_id)))

    @post("/jobs/{job_id:str}/cancel", status_code=200)
    async def cancel(self, job_id: FromPath[str], state: State) -> JobView:
        return job_view(await _service(state).cancel(parse_job_id(job_id)))

    @delete("/jobs/{job_id:str}", status_code=200)
    async def delete_job(self, job_id: FromPath[str], state: State) -> dict[str, Any]:
        await _service(state).delete(parse_job_id(job_id))
        return {"deleted": job_id}

    @post("/queues/{queue:str}/retry-dead", status_code=200)
    async def retry_dead(self, queue: FromPath[str], state: State) -> Retried:
        return Retried(retried=await _service(state).retry_dead(queue))

    @post("/queues/{queue:str}/pause", status_code=200)
    async def pause(self, queue: FromPath[str], state: State) -> QueueState:
        await _service(state).set_paused(queue, True)
        return QueueState(queue=queue, paused=True)

    @post("/queues/{queue:str}/resume", status_code=200)
    async def resume(self, queue: FromPath[str], state: State) -> QueueState:
        await _service(state).set_paused(queue, False)
        return QueueState(queue=queue, paused=False)

    @get("/schedules")
    async def schedules(self, state: State) -> ScheduleList:
        service: ScheduleService | None = state.schedules
        return ScheduleList(schedules=[] if service is None else await service.list())

    @post("/schedules/{name:str}/pause", status_code=200)
    async def pause_schedule(self, name: FromPath[str], state: State) -> Schedule:
        return await schedule_service(state).pause(name)

    @post("/schedules/{name:str}/resume", status_code=200)
    async def resume_schedule(self, name: FromPath[str], state: State) -> Schedule:
        return await schedule_service(state).resume(name)

    @get("/webhooks")
    async def webhooks(self, state: State) -> WebhookOverview:
        service = webhook_service(state)
        return WebhookOverview(webhooks=await service.all(),
                               deliveries=await service.deliveries(limit=20))
