"""``/v1`` routes over the whole cluster: every server replica (``GET /v1/replicas``) and the
workers connected to any live one (``GET /v1/workers``), read from ``quorra.replicas``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get

from quorra.core.keys import Principal
from quorra.core.tenancy import owns, shown_queue
from quorra.http.auth import principal_of, require_api_key
from quorra.http.errors import error_responses
from quorra.http.schemas import RateView, ReplicaList, ReplicaView, WorkerList, WorkerView
from quorra.replicas import Cluster, ReplicaRecord, ReplicaWorker
from quorra.worker_directory import ConnectedWorker

__all__ = ["ClusterController", "replica_view", "worker_list"]


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _view(worker: ConnectedWorker, queues: list[str], replica: str) -> WorkerView:
    return WorkerView(worker_id=worker.worker_id, queues=queues, in_flight=worker.in_flight,
                      connected_at=_at(worker.connected_at), last_seen=_at(worker.last_seen),
                      replica=replica)


def worker_list(workers: list[ReplicaWorker], principal: Principal | None = None) -> WorkerList:
    """The workers given; for a tenant's principal, those leasing its queues, showing only
    those."""
    if principal is None or principal.tenant is None:
        return WorkerList(workers=[_view(w.worker, list(w.worker.queues), w.replica)
                                   for w in workers])
    seen = [(w, [shown_queue(principal, q) for q in w.worker.queues if owns(principal, q)])
            for w in workers]
    return WorkerList(workers=[_view(w.worker, queues, w.replica) for w, queues in seen if queues])


def replica_view(record: ReplicaRecord) -> ReplicaView:
    me = record.identity
    last = record.throughput[-1] if record.throughput else None
    return ReplicaView(
        id=me.id, host=me.host, pid=me.pid, version=me.version, started_at=_at(me.started_at),
        heartbeat_at=_at(record.heartbeat_at), live=record.live,
        workers=[_view(w, list(w.queues), me.id) for w in record.workers],
        throughput=None if last is None else RateView(_at(last[0]), *last[1:]))


def _cluster(request: Request[Any, Any, Any]) -> Cluster:
    cluster: Cluster = request.app.state.cluster
    return cluster


class ClusterController(Controller):
    path = "/v1"
    before_request = staticmethod(require_api_key)
    security = [{"apiKey": []}, {"bearer": []}]  # noqa: RUF012
    tags = ["operators"]  # noqa: RUF012

    @get("/replicas", responses=error_responses(401, 403, 503),
         summary="Every server replica recorded: live ones, and gone ones until forgotten")
    async def replicas(self, request: Request[Any, Any, Any]) -> ReplicaList:
        return ReplicaList(replicas=[replica_view(r) for r in await _cluster(request).replicas()])

    @get("/workers", responses=error_responses(401),
         summary="Workers connected to every live server replica")
    async def workers(self, request: Request[Any, Any, Any]) -> WorkerList:
        return worker_list(await _cluster(request).workers(), principal_of(request))
