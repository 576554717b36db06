"""``/v1`` operator routes beyond single jobs: retry a queue's dead jobs, list workers."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from quorra.http.auth import api_key_guard
from quorra.http.errors import error_responses
from quorra.http.schemas import Retried, WorkerList, WorkerView
from quorra.service import JobService
from quorra.workers import ConnectedWorker, WorkerDirectory

__all__ = ["AdminController", "worker_list"]


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def worker_list(directory: WorkerDirectory) -> WorkerList:
    def view(w: ConnectedWorker) -> WorkerView:
        return WorkerView(worker_id=w.worker_id, queues=w.queues, in_flight=w.in_flight,
                          connected_at=_at(w.connected_at), last_seen=_at(w.last_seen))

    return WorkerList(workers=[view(w) for w in directory.snapshot()])


class AdminController(Controller):
    path = "/v1"
    guards = [api_key_guard]  # noqa: RUF012
    security = [{"apiKey": []}]  # noqa: RUF012
    tags = ["operators"]  # noqa: RUF012

    @post("/queues/{queue:str}/retry-dead", status_code=200,
          responses=error_responses(401, 503), summary="Retry every dead job of a queue")
    async def retry_dead(self, queue: FromPath[str], state: State) -> Retried:
        service: JobService = state.service
        return Retried(retried=await service.retry_dead(queue))

    @get("/workers", responses=error_responses(401),
         summary="Workers connected to this server replica")
    async def workers(self, state: State) -> WorkerList:
        return worker_list(state.workers)
