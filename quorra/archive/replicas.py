"""Server replicas over PostgreSQL (``replicas.sql``, table ``quorra_replicas``)."""

from __future__ import annotations

from typing import Any

import msgspec

from quorra.db.pool import Pool, connection
from quorra.db.sqlfiles import load_queries
from quorra.replicas import Identity, Point, ReplicaRecord
from quorra.worker_directory import ConnectedWorker

__all__ = ["PostgresReplicas"]

QUERIES = load_queries("quorra.archive", "replicas.sql")
_encode = msgspec.json.Encoder().encode


def _record(row: tuple[Any, ...]) -> ReplicaRecord:
    replica_id, host, pid, version, started_at, heartbeat_at, age, points, workers = row
    return ReplicaRecord(
        Identity(replica_id, host, pid, version, started_at), heartbeat_at=heartbeat_at,
        age=max(0.0, age), throughput=msgspec.convert(points, list[Point]),
        workers=msgspec.convert(workers, list[ConnectedWorker]))


class PostgresReplicas:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def beat(self, record: ReplicaRecord) -> None:
        me = record.identity
        async with connection(self._pool) as conn:
            await conn.execute(QUERIES["beat"], {
                "id": me.id, "host": me.host, "pid": me.pid, "version": me.version,
                "started_at": me.started_at, "throughput": _encode(record.throughput).decode(),
                "workers": _encode(record.workers).decode()})

    async def all(self) -> list[ReplicaRecord]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["all"])
            return [_record(row) for row in await cur.fetchall()]

    async def forget(self, older_than: float) -> int:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["forget"], {"age": older_than})
            return cur.rowcount

    async def remove(self, replica_id: str) -> None:
        async with connection(self._pool) as conn:
            await conn.execute(QUERIES["remove"], {"id": replica_id})
