"""``/v1`` job routes: enqueue (one, batch), get, list, retry, cancel, delete, queues, recent.
Every route needs the API key."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter

from quorra.archive.base import JobFilter, page_of
from quorra.core.errors import InvalidInput, JobNotFound
from quorra.core.jobs import Enqueued, JobStatus
from quorra.core.search import id_range, payload_term
from quorra.core.spec import (
    BatchRequest,
    EnqueueRequest,
    decode_batch,
    decode_body,
    decode_enqueue,
)
from quorra.core.traceparent import TRACEPARENT, inherit_traceparent
from quorra.http.auth import PRINCIPAL, principal_of, require_api_key, require_queue_access
from quorra.http.cursor import decode_cursor, encode_cursor
from quorra.http.errors import error_responses
from quorra.http.openapi import json_body_operation
from quorra.http.schemas import (
    CancelFilter,
    CancelledCount,
    EnqueuedList,
    JobList,
    JobPageView,
    JobView,
    QueueList,
    job_view,
)
from quorra.service import JobService
from quorra.tenancy import Jobs, jobs_for

__all__ = ["JobsController", "job_filter", "job_page", "parse_job_id", "parse_status",
           "within_bytes"]

_encode = msgspec.json.Encoder().encode
_DUPLICATE = ResponseSpec(data_container=Enqueued, description=(
    "Not stored: the job's unique_key is held in its queue; the answer is the job holding it, "
    'with "duplicate": true'))


def parse_job_id(job_id: str) -> uuid.UUID:
    """A job id from a path; anything that is not a UUID names no job (404)."""
    try:
        return uuid.UUID(job_id)
    except ValueError:
        raise JobNotFound() from None


def parse_status(status: str | None) -> JobStatus | None:
    if not status:
        return None
    try:
        return JobStatus(status)
    except ValueError:
        names = ", ".join(s.value for s in JobStatus)
        raise InvalidInput("status", f"unknown status; one of {names}") from None


def job_filter(queue: str | None, status: str | None, job_type: str | None,
               payload: str | None = None, id_prefix: str | None = None) -> JobFilter:
    """The listing's filter from query parameters; ``InvalidInput`` (400) for a bad one, before
    anything is queried."""
    return JobFilter(queue=queue or None, status=parse_status(status), type=job_type or None,
                     payload=payload_term(payload), ids=id_range(id_prefix))


async def job_page(service: Jobs, where: JobFilter, limit: int, cursor: str | None,
                   max_bytes: int) -> JobPageView:
    """One page of the job listing (shared by the API and the dashboard): at most ``limit``
    jobs and about ``max_bytes`` of them; ``next_cursor`` whenever more follow."""
    page = await service.list_jobs(where, limit=limit, after=decode_cursor(cursor),
                                   max_bytes=max_bytes)
    views = within_bytes([job_view(job) for job in page.jobs], max_bytes)
    if len(views) < len(page.jobs):  # cut by their JSON size: the next page starts after
        page = page_of(page.jobs[: len(views)], more=True)
    return JobPageView(jobs=views, next_cursor=encode_cursor(page.after))


def within_bytes(views: list[JobView], max_bytes: int) -> list[JobView]:
    """The first ``views`` whose JSON adds up to at most ``max_bytes`` (at least one)."""
    used = 0
    for index, view in enumerate(views):
        used += len(_encode(view)) + 1
        if index and used > max_bytes:
            return views[:index]
    return views


def _service(state: State) -> JobService:
    service: JobService = state.service
    return service


def _jobs(request: Request[Any, Any, Any]) -> Jobs:
    """The use-cases as the caller sees them (its tenant's queues only, if it has one)."""
    return jobs_for(_service(request.app.state), principal_of(request))


async def _own_job(request: Request[Any, Any, Any], job_id: str) -> uuid.UUID:
    """The job's id, once its queue is checked for a key limited to queue patterns (another
    tenant's job is not found)."""
    job_uuid = parse_job_id(job_id)
    if principal_of(request).queues:
        job = await _jobs(request).get(job_uuid)
        require_queue_access(request, [job.queue])
    return job_uuid


class JobsController(Controller):
    path = "/v1"
    before_request = staticmethod(require_api_key)
    security = [{"apiKey": []}, {"bearer": []}]  # noqa: RUF012
    tags = ["jobs"]  # noqa: RUF012

    @post("/jobs", status_code=201, operation_class=json_body_operation(
              EnqueueRequest, traceparent=True),
          responses={200: _DUPLICATE, **error_responses(400, 401, 413, 503)},
          summary="Enqueue a job")
    async def enqueue(self, request: Request[Any, Any, Any]) -> Response[Enqueued]:
        # state read from the app, not injected: injection costs ~5% of a single-job enqueue
        state = request.app.state
        (spec,) = inherit_traceparent([decode_enqueue(await request.body(), state.limits)],
                                      request.headers.get(TRACEPARENT))
        principal = request.scope[PRINCIPAL]  # type: ignore[literal-required]
        if principal.queues:
            require_queue_access(request, [spec.queue])
        (done,) = await jobs_for(_service(state), principal).enqueue([spec])
        return Response(done, status_code=200 if done.duplicate else 201)

    @post("/jobs/batch", status_code=201, operation_class=json_body_operation(
              BatchRequest, traceparent=True),
          responses=error_responses(400, 401, 413, 503),
          summary="Enqueue several jobs, all or none")
    async def enqueue_batch(self, request: Request[Any, Any, Any]) -> EnqueuedList:
        state = request.app.state
        specs = inherit_traceparent(decode_batch(await request.body(), state.limits),
                                    request.headers.get(TRACEPARENT))
        require_queue_access(request, [spec.queue for spec in specs])
        return EnqueuedList(jobs=await _jobs(request).enqueue(specs))

    @get("/jobs/{job_id:str}", responses=error_responses(401, 404, 503), summary="Get a job")
    async def get_job(self, job_id: FromPath[str], request: Request[Any, Any, Any]) -> JobView:
        job = await _jobs(request).get(parse_job_id(job_id))
        require_queue_access(request, [job.queue])
        return job_view(job)

    @get("/jobs", responses=error_responses(400, 401, 503),
         summary="List jobs, newest first, with filters and cursor paging")
    async def list_jobs(
        self, request: Request[Any, Any, Any], state: State,
        queue: Annotated[str | None, QueryParameter(name="queue")] = None,
        status: Annotated[str | None, QueryParameter(name="status")] = None,
        job_type: Annotated[str | None, QueryParameter(name="type")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000, name="limit")] = 50,
        cursor: Annotated[str | None, QueryParameter(name="cursor")] = None,
        payload: Annotated[str | None, QueryParameter(
            name="payload", description="Only jobs whose payload contains this JSON object "
            '(e.g. {"user": 42}); at most 4096 characters')] = None,
        id_prefix: Annotated[str | None, QueryParameter(
            name="id_prefix", description="Only jobs whose id starts with these hex digits "
            "(hyphens ignored)")] = None,
    ) -> JobPageView:
        where = job_filter(queue, status, job_type, payload, id_prefix)
        return await job_page(_jobs(request), where, limit, cursor, state.limits.max_list_bytes)

    @post("/jobs/{job_id:str}/retry", status_code=200,
          responses=error_responses(401, 404, 409, 503),
          summary="Retry a dead job now (attempts reset, last error kept)")
    async def retry(self, job_id: FromPath[str], request: Request[Any, Any, Any]) -> JobView:
        job_uuid = await _own_job(request, job_id)
        return job_view(await _jobs(request).retry(job_uuid))

    @post("/jobs/{job_id:str}/cancel", status_code=200,
          responses=error_responses(401, 404, 409, 503),
          summary="Cancel a pending or running job (idempotent; 409 once it succeeded or died)")
    async def cancel(self, job_id: FromPath[str], request: Request[Any, Any, Any]) -> JobView:
        """A pending, delayed or backing-off job is cancelled at once and never leased; a
        running job's lease is void (its late ack is refused) and its worker is told to stop."""
        job_uuid = await _own_job(request, job_id)
        return job_view(await _jobs(request).cancel(job_uuid))

    @post("/jobs/cancel", status_code=200, operation_class=json_body_operation(CancelFilter),
          responses=error_responses(400, 401, 503),
          summary="Cancel every unfinished job of a queue and/or a type")
    async def cancel_many(self, request: Request[Any, Any, Any]) -> CancelledCount:
        where: CancelFilter = decode_body(await request.body(), CancelFilter)
        if principal_of(request).queues:
            require_queue_access(request, [where.queue or "*"])  # a limited key names a queue
        return CancelledCount(cancelled=await _jobs(request).cancel_many(where.queue,
                                                                          where.type))

    @delete("/jobs/{job_id:str}", responses=error_responses(401, 404, 409, 503),
            summary="Delete a job (not while a worker holds its lease)")
    async def delete_job(self, job_id: FromPath[str], request: Request[Any, Any, Any]) -> None:
        job_uuid = await _own_job(request, job_id)
        await _jobs(request).delete(job_uuid)

    @get("/queues", responses=error_responses(401, 503),
         summary="Job counts by queue and status, the paused queues and the limited ones")
    async def queues(self, request: Request[Any, Any, Any]) -> QueueList:
        service = _jobs(request)
        return QueueList(queues=await service.queue_counts(), paused=await service.paused_queues(),
                         limits=await service.queue_limits())

    @get("/recent", responses=error_responses(400, 401, 503), summary="Newest jobs first")
    async def recent(
        self, request: Request[Any, Any, Any], state: State,
        limit: Annotated[int, QueryParameter(ge=1, le=1000, name="limit")] = 50,
    ) -> JobList:
        """Newest first; fewer than ``limit`` when their size passes the listing byte bound
        (page with ``GET /v1/jobs`` and its cursor to see them all)."""
        budget = state.limits.max_list_bytes
        page = await _jobs(request).list_jobs(JobFilter(), limit=limit, max_bytes=budget)
        return JobList(jobs=within_bytes([job_view(job) for job in page.jobs], budget))
