"""Storing jobs that depend on others (``dependencies.sql``), inside the enqueue transaction:
parents outside the batch are locked and must exist, each new job is stored pending, blocked
or cancelled from its parents' states, its edges are written, and every unfinished ancestor
inherits the priority of the jobs that await it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

from quorra.core.dependencies import inherited_priorities, parents_first
from quorra.core.errors import InvalidInput
from quorra.core.jobs import JobSpec
from quorra.db.sqlfiles import load_queries

__all__ = ["Inserted", "Raised", "insert_dependent"]

QUERIES = load_queries("quorra.broker.postgres")
DEPS = load_queries("quorra.broker.postgres", "dependencies.sql")
Conn = AsyncConnection[tuple[Any, ...]]
Row = tuple[Any, ...]  # (id, status, run_at, queue, ready)
_FAILED = ("dead", "cancelled")
_encode = msgspec.json.Encoder().encode


class Raised(msgspec.Struct, frozen=True):
    """A job whose priority an enqueue raised (priority inheritance), as it is now."""

    id: uuid.UUID
    queue: str
    status: str
    old_priority: int
    priority: int
    run_at: datetime
    seq: int


class _Row(msgspec.Struct, omit_defaults=True):
    id: uuid.UUID
    type: str
    queue: str
    payload: msgspec.Raw
    priority: int
    max_retries: int
    run_at: datetime | None
    delay: float
    status: str
    blockers: int
    depends_on: list[uuid.UUID]
    has_dependents: bool
    timeout: float | None = None
    unique_key: str | None = None
    last_error: str | None = None
    traceparent: str | None = None


class Inserted(msgspec.Struct):
    """What ``insert_dependent`` did: the rows inserted ``(id, status, run_at, queue,
    ready)``, the jobs whose priority was raised, and the queues of the pending parents it
    locked (a lease may have skipped them meanwhile: their lessees are woken after commit)."""

    rows: list[Row]
    raised: list[Raised]
    parent_queues: set[str]


async def insert_dependent(conn: Conn, specs: Sequence[JobSpec], *, bump: bool) -> Inserted:
    """Insert ``specs`` (some with ``depends_on``) in the caller's transaction. Ids already
    stored are skipped (a producer's retry) and count as parents like any stored job."""
    order = parents_first(specs)
    stored = await _stored(conn, [s.id for s in order])
    new = [s for s in order if s.id not in stored]
    new_ids = {s.id for s in new}
    outside = sorted({p for s in new for p in s.depends_on if p not in new_ids})
    status_of, queues = await _lock_parents(conn, outside, new)
    priorities = inherited_priorities(new)
    awaited = {p for s in new for p in s.depends_on}
    rows = []
    for spec in new:
        row = _row(spec, status_of, priorities[spec.id], spec.id in awaited)
        status_of[spec.id] = row.status
        rows.append(row)
    cur = await conn.execute(DEPS["enqueue_dependent"], {"jobs": _encode(rows).decode()})
    inserted: list[Row] = await cur.fetchall()
    done = {row[0] for row in inserted}
    edges = [{"job_id": s.id, "parent_id": p} for s in new if s.id in done for p in s.depends_on]
    if edges:
        await conn.execute(DEPS["insert_edges"], {"edges": _encode(edges).decode()})
    need = [{"id": p, "priority": priorities[p]} for p in outside]
    return Inserted(inserted, await _raise(conn, need, bump), queues)


async def _stored(conn: Conn, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    cur = await conn.execute(QUERIES["enqueue_known"], {"ids": ids})
    return {row[0] for row in await cur.fetchall()}


async def _lock_parents(conn: Conn, ids: list[uuid.UUID], new: Sequence[JobSpec]
                        ) -> tuple[dict[uuid.UUID, str], set[str]]:
    if not ids:
        return {}, set()
    cur = await conn.execute(DEPS["lock_parents"], {"ids": ids})
    rows = await cur.fetchall()
    found: dict[uuid.UUID, str] = {row[0]: row[1] for row in rows}
    asked = set(ids)
    for spec in new:
        missing = [p for p in spec.depends_on if p not in found and p in asked]
        if missing:
            raise InvalidInput("depends_on", f"no job {missing[0]} (a parent must be stored "
                                             "already or be enqueued in the same batch)")
    return found, {queue for _, status, queue in rows if status == "pending"}


def _row(spec: JobSpec, status_of: dict[uuid.UUID, str], priority: int,
         awaited: bool) -> _Row:
    failed = next((p for p in spec.depends_on if status_of[p] in _FAILED), None)
    blockers = sum(1 for p in spec.depends_on if status_of[p] != "succeeded")
    status, error = ("blocked" if blockers else "pending"), None
    if failed is not None:
        status, blockers = "cancelled", 0
        how = "was cancelled" if status_of[failed] == "cancelled" else "ended dead"
        error = f"dependency {failed} {how}"
    return _Row(spec.id, spec.type, spec.queue, msgspec.Raw(spec.payload), priority,
                spec.max_retries, spec.run_at, spec.delay_seconds, status, blockers,
                list(spec.depends_on), awaited, spec.timeout_seconds, spec.unique_key, error,
                spec.traceparent)


async def _raise(conn: Conn, need: list[dict[str, Any]], bump: bool) -> list[Raised]:
    if not need:
        return []
    cur = await conn.execute(DEPS["raise_priorities"],
                             {"need": _encode(need).decode(), "bump": bump})
    return [Raised(*row) for row in await cur.fetchall()]
