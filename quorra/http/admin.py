"""``/v1`` operator routes beyond single jobs: retry a queue's dead jobs, pause and resume a
queue, list workers."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from quorra.http.auth import require_api_key
from quorra.http.errors import error_responses
from quorra.http.schemas import QueueState, Retried, WorkerList, WorkerView
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
    before_request = staticmethod(require_api_key)
    security = [{"apiKey": []}]  # noqa: RUF012
    tags = ["operators"]  # noqa: RUF012

    @post("/queues/{queue:str}/retry-dead", status_code=200,
          responses=error_responses(401, 503), summary="Retry every dead job of a queue")
    async def retry_dead(self, queue: FromPath[str], state: State) -> Retried:
        service: JobService = state.service
        return Retried(retried=await service.retry_dead(queue))

    @post("/queues/{queue:str}/pause", status_code=200,
          responses=error_responses(400, 401, 404, 503),
          summary="Pause a queue: no job of it is leased, on any replica, until resumed "
                  "(enqueues are still accepted; idempotent)")
    async def pause(self, queue: FromPath[str], state: State) -> QueueState:
        service: JobService = state.service
        await service.set_paused(queue, True)
        return QueueState(queue=queue, paused=True)

    @post("/queues/{queue:str}/resume", status_code=200,
          responses=error_responses(400, 401, 404, 503),
          summary="Resume a paused queue and wake waiting workers (idempotent)")
    async def resume(self, queue: FromPath[str], state: State) -> QueueState:
        service: JobService = state.service
        await service.set_paused(queue, False)
        return QueueState(queue=queue, paused=False)

    @get("/workers", responses=error_responses(401),
         summary="Workers connected to this server replica")
    async def workers(self, state: State) -> WorkerList:
        return worker_list(state.workers)
