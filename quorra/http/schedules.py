"""``/v1/schedules``: cron schedules (create, replace, list, get, delete, pause, resume).
Every route needs the API key."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath

from quorra.core.errors import Unavailable
from quorra.core.schedules import Schedule, ScheduleRequest, decode_schedule
from quorra.http.auth import require_api_key
from quorra.http.errors import error_responses
from quorra.http.openapi import json_body_operation
from quorra.scheduling import ScheduleService

__all__ = ["ScheduleList", "SchedulesController", "schedule_service"]


class ScheduleList(msgspec.Struct):
    schedules: list[Schedule]


def schedule_service(state: State) -> ScheduleService:
    schedules: ScheduleService | None = state.schedules
    if schedules is None:
        raise Unavailable("schedules are not served here")
    return schedules


class SchedulesController(Controller):
    path = "/v1/schedules"
    before_request = staticmethod(require_api_key)
    security = [{"apiKey": []}, {"bearer": []}]  # noqa: RUF012
    tags = ["schedules"]  # noqa: RUF012

    @post("/", status_code=201, operation_class=json_body_operation(ScheduleRequest),
          responses=error_responses(400, 401, 409, 413, 503),
          summary="Create a cron schedule (409 if the name is taken)")
    async def create(self, request: Request[Any, Any, Any]) -> Schedule:
        state = request.app.state
        schedule = decode_schedule(await request.body(), state.limits)
        return await schedule_service(state).create(schedule)

    @put("/{name:str}", status_code=200, operation_class=json_body_operation(ScheduleRequest),
         responses=error_responses(400, 401, 413, 503),
         summary="Create or replace the schedule of that name")
    async def replace(self, name: FromPath[str], request: Request[Any, Any, Any]) -> Schedule:
        state = request.app.state
        schedule = decode_schedule(await request.body(), state.limits, name=name)
        return await schedule_service(state).replace(schedule)

    @get("/", responses=error_responses(401, 503), summary="List schedules by name")
    async def list_schedules(self, state: State) -> ScheduleList:
        return ScheduleList(schedules=await schedule_service(state).list())

    @get("/{name:str}", responses=error_responses(401, 404, 503), summary="Get a schedule")
    async def get_schedule(self, name: FromPath[str], state: State) -> Schedule:
        return await schedule_service(state).get(name)

    @delete("/{name:str}", responses=error_responses(401, 404, 503),
            summary="Delete a schedule (jobs it enqueued stay)")
    async def delete_schedule(self, name: FromPath[str], state: State) -> None:
        await schedule_service(state).delete(name)

    @post("/{name:str}/pause", status_code=200, responses=error_responses(401, 404, 503),
          summary="Stop firing until resumed")
    async def pause(self, name: FromPath[str], state: State) -> Schedule:
        return await schedule_service(state).pause(name)

    @post("/{name:str}/resume", status_code=200, responses=error_responses(401, 404, 503),
          summary="Fire again from the next tick after now (missed ticks are skipped)")
    async def resume(self, name: FromPath[str], state: State) -> Schedule:
        return await schedule_service(state).resume(name)
