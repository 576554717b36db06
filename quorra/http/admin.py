"""``/v1`` operator routes beyond single jobs: retry a queue's dead jobs, pause and resume a
queue, its limits (the workers and replicas: ``quorra.http.cluster``)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath

from quorra.core.limits import QueueLimits
from quorra.core.spec import decode_body
from quorra.http.auth import principal_of, require_api_key
from quorra.http.errors import error_responses
from quorra.http.openapi import json_body_operation
from quorra.http.schemas import (
    LimitsBody,
    QueueLimitsView,
    QueueState,
    Retried,
)
from quorra.tenancy import Jobs, jobs_for

__all__ = ["AdminController", "limits_view"]


def limits_view(queue: str, limits: QueueLimits) -> QueueLimitsView:
    return QueueLimitsView(queue=queue, max_concurrency=limits.max_concurrency,
                           rate_limit=limits.rate_limit, rate_period=limits.rate_period)


def _jobs(request: Request[Any, Any, Any]) -> Jobs:
    return jobs_for(request.app.state.service, principal_of(request))


class AdminController(Controller):
    path = "/v1"
    before_request = staticmethod(require_api_key)
    security = [{"apiKey": []}, {"bearer": []}]  # noqa: RUF012
    tags = ["operators"]  # noqa: RUF012

    @post("/queues/{queue:str}/retry-dead", status_code=200,
          responses=error_responses(401, 503), summary="Retry every dead job of a queue")
    async def retry_dead(self, queue: FromPath[str], request: Request[Any, Any, Any]
                         ) -> Retried:
        return Retried(retried=await _jobs(request).retry_dead(queue))

    @post("/queues/{queue:str}/pause", status_code=200,
          responses=error_responses(400, 401, 404, 503),
          summary="Pause a queue: no job of it is leased, on any replica, until resumed "
                  "(enqueues are still accepted; idempotent)")
    async def pause(self, queue: FromPath[str], request: Request[Any, Any, Any]) -> QueueState:
        await _jobs(request).set_paused(queue, True)
        return QueueState(queue=queue, paused=True)

    @post("/queues/{queue:str}/resume", status_code=200,
          responses=error_responses(400, 401, 404, 503),
          summary="Resume a paused queue and wake waiting workers (idempotent)")
    async def resume(self, queue: FromPath[str], request: Request[Any, Any, Any]) -> QueueState:
        await _jobs(request).set_paused(queue, False)
        return QueueState(queue=queue, paused=False)

    @put("/queues/{queue:str}/limits", status_code=200,
         operation_class=json_body_operation(LimitsBody),
         responses=error_responses(400, 401, 413, 503),
         summary="Set a queue's limits: jobs leased at once, leases per period (every replica, "
                 "every dispatch mode; a queue may be limited before its first job)")
    async def set_limits(self, queue: FromPath[str], request: Request[Any, Any, Any]
                         ) -> QueueLimitsView:
        body: LimitsBody = decode_body(await request.body(), LimitsBody)
        limits = QueueLimits(max_concurrency=body.max_concurrency, rate_limit=body.rate_limit,
                             rate_period=body.rate_period)
        return limits_view(queue, await _jobs(request).set_limits(queue, limits))

    @get("/queues/{queue:str}/limits", responses=error_responses(400, 401, 503),
         summary="A queue's limits (null: none)")
    async def get_limits(self, queue: FromPath[str], request: Request[Any, Any, Any]
                         ) -> QueueLimitsView:
        return limits_view(queue, await _jobs(request).get_limits(queue))

    @delete("/queues/{queue:str}/limits", status_code=200,
            responses=error_responses(400, 401, 503), summary="Remove a queue's limits")
    async def remove_limits(self, queue: FromPath[str], request: Request[Any, Any, Any]
                            ) -> QueueLimitsView:
        return limits_view(queue, await _jobs(request).set_limits(queue, QueueLimits()))
