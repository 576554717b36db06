"""``/v1`` routes: enqueue (one, batch), get, queues, recent. Every route needs the API key."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter

from quorra.core.errors import JobNotFound
from quorra.core.jobs import Enqueued
from quorra.core.spec import BatchRequest, EnqueueRequest, decode_batch, decode_enqueue
from quorra.http.auth import api_key_guard
from quorra.http.errors import error_responses
from quorra.http.openapi import json_body_operation
from quorra.http.schemas import EnqueuedList, JobList, JobView, QueueList, job_view
from quorra.service import JobService

__all__ = ["JobsController"]


def _service(state: State) -> JobService:
    service: JobService = state.service
    return service


class JobsController(Controller):
    path = "/v1"
    guards = [api_key_guard]  # noqa: RUF012
    security = [{"apiKey": []}]  # noqa: RUF012
    tags = ["jobs"]  # noqa: RUF012

    @post("/jobs", status_code=201, operation_class=json_body_operation(EnqueueRequest),
          responses=error_responses(400, 401, 413, 503), summary="Enqueue a job")
    async def enqueue(self, request: Request[Any, Any, Any], state: State) -> Enqueued:
        spec = decode_enqueue(await request.body(), state.limits)
        (done,) = await _service(state).enqueue([spec])
        return done

    @post("/jobs/batch", status_code=201, operation_class=json_body_operation(BatchRequest),
          responses=error_responses(400, 401, 413, 503),
          summary="Enqueue several jobs, all or none")
    async def enqueue_batch(self, request: Request[Any, Any, Any], state: State) -> EnqueuedList:
        specs = decode_batch(await request.body(), state.limits)
        return EnqueuedList(jobs=await _service(state).enqueue(specs))

    @get("/jobs/{job_id:str}", responses=error_responses(401, 404, 503), summary="Get a job")
    async def get_job(self, job_id: FromPath[str], state: State) -> JobView:
        try:
            parsed = uuid.UUID(job_id)
        except ValueError:
            raise JobNotFound() from None
        return job_view(await _service(state).get(parsed))

    @get("/queues", responses=error_responses(401, 503), summary="Job counts by queue and status")
    async def queues(self, state: State) -> QueueList:
        return QueueList(queues=await _service(state).queue_counts())

    @get("/recent", responses=error_responses(400, 401, 503), summary="Newest jobs first")
    async def recent(
        self, state: State,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
    ) -> JobList:
        jobs = await _service(state).recent(limit)
        return JobList(jobs=[job_view(job) for job in jobs])
