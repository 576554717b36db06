"""The directory of workers connected to this server replica (for the workers view and gauges).

The gRPC servicer registers a worker when its stream opens and updates its in-flight count;
the REST API and the dashboard read ``snapshot()``. In-process only: each replica knows its own
connections."""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec

__all__ = ["ConnectedWorker", "WorkerDirectory"]


class ConnectedWorker(msgspec.Struct):
    worker_id: str
    queues: list[str]
    in_flight: int = 0
    connected_at: float = 0.0
    last_seen: float = 0.0
    peer: str = ""
    waiting_since: float = 0.0  # free slots and no job since then (Unix time; 0: not waiting)


class WorkerDirectory:
    def __init__(self) -> None:
        self._workers: dict[str, ConnectedWorker] = {}

    def connect(self, session: str, worker_id: str, queues: Sequence[str], peer: str = "") -> None:
        now = time.time()
        self._workers[session] = ConnectedWorker(worker_id, list(queues), 0, now, now, peer)

    def disconnect(self, session: str) -> None:
        self._workers.pop(session, None)

    def in_flight(self, session: str, count: int) -> None:
        worker = self._workers.get(session)
        if worker is not None:
            worker.in_flight = count
            worker.last_seen = time.time()

    def waiting(self, session: str, waiting: bool) -> None:
        """The session has free slots and waits for jobs (``True``), or just got some."""
        worker = self._workers.get(session)
        if worker is None:
            return
        if not waiting:
            worker.waiting_since = 0.0
        elif not worker.waiting_since:
            worker.waiting_since = time.time()

    def snapshot(self) -> list[ConnectedWorker]:
        return sorted((msgspec.structs.replace(w) for w in self._workers.values()),
                      key=lambda w: (w.worker_id, w.connected_at))
