"""The cluster view: every live replica's workers and throughput added up, this replica's own
part from memory, gone replicas shown but not counted, and this replica alone when the store
cannot be read."""

from __future__ import annotations

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from quorra.core.errors import StoreUnavailable
from quorra.metrics import Metrics
from quorra.replicas import (
    GONE_BEATS,
    Cluster,
    Identity,
    ReplicaRecord,
    new_identity,
    summed,
)
from quorra.throughput import Throughput
from quorra.worker_directory import ConnectedWorker, WorkerDirectory


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[str, ReplicaRecord] = {}
        self.down = False
        self.forgotten: list[float] = []

    async def beat(self, record: ReplicaRecord) -> None:
        self.rows[record.identity.id] = msgspec.structs.replace(record, age=0.0)

    async def all(self) -> list[ReplicaRecord]:
        if self.down:
            raise StoreUnavailable()
        return list(self.rows.values())

    async def forget(self, older_than: float) -> int:
        self.forgotten.append(older_than)
        return 0

    async def remove(self, replica_id: str) -> None:
        self.rows.pop(replica_id, None)


def other(name: str, age: float, workers: list[str], points: list[tuple[float, ...]]
          ) -> ReplicaRecord:
    return ReplicaRecord(Identity(name, "h", 1, "0.1.0", 100.0), age=age,
                         throughput=[(p[0], p[1], p[2], p[3]) for p in points],
                         workers=[ConnectedWorker(w, ["q"]) for w in workers])


def cluster(store: FakeStore | None) -> tuple[Cluster, WorkerDirectory]:
    directory = WorkerDirectory()
    directory.connect("s1", "mine", ["q"])
    throughput = Throughput(Metrics(CollectorRegistry()))
    return Cluster(new_identity(200.0), directory, throughput, store, interval=2.0), directory


def test_summed_adds_up_per_second_until_every_series_has_it() -> None:
    a = [(10.2, 1.0, 1.0, 0.0), (11.2, 2.0, 1.0, 0.0), (12.2, 3.0, 0.0, 1.0)]
    b = [(10.7, 5.0, 0.0, 0.0), (11.7, 5.0, 2.0, 0.0)]  # its newest second: 12
    assert summed([a, b]) == [(10.0, 1.0, 1.0, 0.0), (11.0, 7.0, 1.0, 0.0),
                              (12.0, 8.0, 2.0, 1.0)]
    assert summed([a, [(11.0, 1.0, 1.0, 1.0)]]) == [(10.0, 1.0, 1.0, 0.0),
                                                     (11.0, 3.0, 2.0, 1.0)]
    assert summed([]) == []
    assert summed([[], a]) == [(10.0, 1.0, 1.0, 0.0), (11.0, 2.0, 1.0, 0.0),
                               (12.0, 3.0, 0.0, 1.0)]


async def test_live_replicas_count_and_gone_ones_are_shown_only() -> None:
    store = FakeStore()
    store.rows["b"] = other("b", 0.5, ["w-b"], [(10.0, 1.0, 0.0, 0.0)])
    store.rows["c"] = other("c", GONE_BEATS * 2.0 + 0.1, ["w-c"], [(10.0, 9.0, 0.0, 0.0)])
    mine, _ = cluster(store)
    listed = await mine.replicas()
    assert [(r.identity.id, r.live) for r in listed] == [("b", True), ("c", False),
                                                        (mine.identity.id, True)]
    assert {(w.replica, w.worker.worker_id) for w in await mine.workers()} == {
        ("b", "w-b"), (mine.identity.id, "mine")}
    # b's rates (c is gone; this one has no sample yet, so it holds nothing back)
    assert await mine.throughput() == [(10.0, 1.0, 0.0, 0.0)]


async def test_heartbeat_records_this_replica_and_forgets_old_rows() -> None:
    store = FakeStore()
    mine, directory = cluster(store)
    await mine.heartbeat()
    row = store.rows[mine.identity.id]
    assert [w.worker_id for w in row.workers] == ["mine"] and store.forgotten
    directory.disconnect("s1")  # its own part is read from memory, not from its row
    assert await mine.workers() == []
    await mine.leave()
    assert store.rows == {}


async def test_without_a_store_or_when_it_is_down_this_replica_is_alone() -> None:
    alone, _ = cluster(None)
    await alone.heartbeat()
    assert [w.worker.worker_id for w in await alone.workers()] == ["mine"]
    store = FakeStore()
    store.rows["b"] = other("b", 0.0, ["w-b"], [])
    down, _ = cluster(store)
    store.down = True
    assert [w.worker.worker_id for w in await down.workers()] == ["mine"]
    with pytest.raises(StoreUnavailable):
        await down.replicas()
