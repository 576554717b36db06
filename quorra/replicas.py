"""The cluster as any replica sees it: every server replica records itself in PostgreSQL
(``quorra_replicas``) every few seconds with its recent throughput and its connected workers, so
``GET /v1/replicas``, ``GET /v1/workers`` and the dashboard's overview show every replica, not
only the one serving the request.

``Cluster.heartbeat`` is a housekeeping chore: it writes this replica's row and deletes rows
gone long ago. A row is live while its heartbeat is younger than ``GONE_BEATS`` intervals (by
the database's clock); older, it is shown as gone and its workers and throughput no longer
count; after ``FORGET_SECONDS`` it is deleted. This replica's own part is always read from
memory (fresh); when the store cannot be read, the workers and throughput are this replica's
alone."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from typing import Protocol

import msgspec

from quorra import __version__
from quorra.core.errors import QuorraError
from quorra.throughput import Throughput
from quorra.worker_directory import ConnectedWorker, WorkerDirectory

__all__ = ["FORGET_SECONDS", "GONE_BEATS", "Cluster", "Identity", "Point", "ReplicaRecord",
           "ReplicaStore", "ReplicaWorker", "live_throughput", "live_workers", "new_identity",
           "summed"]

log = logging.getLogger(__name__)

GONE_BEATS = 3  # a replica is gone once its heartbeat is this many intervals old
FORGET_SECONDS = 600.0  # and its row is deleted this much later
Point = tuple[float, float, float, float]  # (Unix second, enqueued/s, succeeded/s, failed/s)


class Identity(msgspec.Struct, frozen=True):
    id: str
    host: str
    pid: int
    version: str
    started_at: float  # Unix seconds


def new_identity(started_at: float) -> Identity:
    """This process: its host, pid and a random part (a restarted pid is another replica)."""
    host, pid = socket.gethostname(), os.getpid()
    return Identity(id=f"{host}:{pid}:{uuid.uuid4().hex[:8]}", host=host, pid=pid,
                    version=__version__, started_at=started_at)


class ReplicaRecord(msgspec.Struct):
    """A replica's row: ``age`` is the heartbeat's age in seconds (as the store read it)."""

    identity: Identity
    heartbeat_at: float = 0.0
    age: float = 0.0
    throughput: list[Point] = msgspec.field(default_factory=list)
    workers: list[ConnectedWorker] = msgspec.field(default_factory=list)
    live: bool = True


class ReplicaWorker(msgspec.Struct, frozen=True):
    replica: str
    worker: ConnectedWorker


class ReplicaStore(Protocol):
    async def beat(self, record: ReplicaRecord) -> None:
        """Create or refresh the replica's row (its heartbeat is the store's now)."""

    async def all(self) -> list[ReplicaRecord]:
        """Every row, oldest replica first, with its heartbeat's age."""

    async def forget(self, older_than: float) -> int:
        """Delete rows whose heartbeat is over ``older_than`` seconds old; how many."""

    async def remove(self, replica_id: str) -> None:
        """Delete that replica's row (it stops)."""


class Cluster:
    def __init__(self, identity: Identity, directory: WorkerDirectory, throughput: Throughput,
                 store: ReplicaStore | None = None, *, interval: float = 2.0) -> None:
        self.identity = identity
        self.interval = interval
        self._directory = directory
        self._throughput = throughput
        self._store = store

    def own(self) -> ReplicaRecord:
        points = [(r.at, r.enqueued, r.succeeded, r.failed) for r in self._throughput.series()]
        return ReplicaRecord(self.identity, heartbeat_at=time.time(), throughput=points,
                             workers=self._directory.snapshot())

    async def heartbeat(self) -> None:
        """Record this replica (a housekeeping chore), and delete rows gone long ago."""
        if self._store is None:
            return
        await self._store.beat(self.own())
        await self._store.forget(FORGET_SECONDS)

    async def leave(self) -> None:
        if self._store is not None:
            await self._store.remove(self.identity.id)

    async def replicas(self) -> list[ReplicaRecord]:
        """Every recorded replica, ``live`` or gone (this one from memory, always live)."""
        if self._store is None:
            return [self.own()]
        gone_after = GONE_BEATS * self.interval
        rows = [msgspec.structs.replace(row, live=row.age <= gone_after)
                for row in await self._store.all() if row.identity.id != self.identity.id]
        mine = self.own()
        return sorted([mine, *rows], key=lambda r: (r.identity.started_at, r.identity.id))

    async def known(self) -> list[ReplicaRecord]:
        """``replicas()``, or this one alone when the store cannot be read."""
        try:
            return await self.replicas()
        except QuorraError as exc:
            log.warning("the other replicas could not be read (%s): this one's alone", exc)
            return [self.own()]

    async def workers(self) -> list[ReplicaWorker]:
        return live_workers(await self.known())

    async def throughput(self) -> list[Point]:
        return live_throughput(await self.known())


def live_workers(records: list[ReplicaRecord]) -> list[ReplicaWorker]:
    """The workers connected to every live replica."""
    return [ReplicaWorker(row.identity.id, worker)
            for row in records if row.live for worker in row.workers]


def live_throughput(records: list[ReplicaRecord]) -> list[Point]:
    """Every live replica's rates added up per second, oldest first, up to the newest second
    every one of them has recorded (the others' lag by at most a heartbeat interval)."""
    return summed([row.throughput for row in records if row.live])


def summed(series: list[list[Point]]) -> list[Point]:
    """Rates added up per second (a series' points keyed by their whole second)."""
    totals: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    ends = []
    for points in series:
        by_second = {round(at): (e, s, f) for at, e, s, f in points}
        if by_second:
            ends.append(max(by_second))
        for second, rates in by_second.items():
            total = totals[second]
            for index, rate in enumerate(rates):
                total[index] += rate
    end = min(ends, default=0)
    return [(float(second), totals[second][0], totals[second][1], totals[second][2])
            for second in sorted(totals) if second <= end]
