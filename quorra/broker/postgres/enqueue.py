"""Storing a group-committed batch of jobs: one INSERT when no job carries a unique key or
depends on another, else one transaction that claims the keys first (``unique.sql``) and
stores only the jobs that got theirs (every other job is answered with the job holding its key:
``duplicate``), and stores jobs with parents blocked on them (``dependent.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

from quorra.broker.postgres.dependent import Raised, insert_dependent
from quorra.core.errors import StoreUnavailable
from quorra.core.jobs import Enqueued, Job, JobSpec, JobStatus
from quorra.db.rows import row_to_job
from quorra.db.sqlfiles import load_queries

__all__ = ["Lessee", "Stored", "store", "store_handing_off"]

QUERIES = load_queries("quorra.broker.postgres")
UNIQUE = load_queries("quorra.broker.postgres", "unique.sql")
_STATUS = {status.value: status for status in JobStatus}
_ROUNDS = 5  # a key released between the claim and the look-up is claimed again, so few

Conn = AsyncConnection[tuple[Any, ...]]
Row = tuple[Any, ...]  # (id, status, run_at[, queue, ready])
Key = tuple[str, str]  # (queue, unique_key)
Lessee = tuple[str, float]  # (worker id, lease ttl) a ready job may be leased to at insert


class _Row(msgspec.Struct, omit_defaults=True):
    """One job of an enqueue batch as the ``enqueue`` query reads it (``jsonb_to_recordset``)."""

    id: uuid.UUID
    type: str
    queue: str
    payload: msgspec.Raw  # already-encoded JSON object, copied through as is
    priority: int
    max_retries: int
    run_at: datetime | None
    delay: float
    timeout: float | None = None
    unique_key: str | None = None
    traceparent: str | None = None
    lessee: str | None = None  # enqueue_handoff only
    ttl: float | None = None


class _Claim(msgspec.Struct):
    queue: str
    unique_key: str
    job_id: uuid.UUID
    window: float | None = None


_encode = msgspec.json.Encoder().encode


def _batch_json(specs: Sequence[JobSpec],
                lessees: Sequence[Lessee | None] | None = None) -> str:
    rows = [
        _Row(s.id, s.type, s.queue, msgspec.Raw(s.payload), s.priority, s.max_retries, s.run_at,
             s.delay_seconds, s.timeout_seconds, s.unique_key, s.traceparent)
        for s in specs
    ]
    for row, lessee in zip(rows, lessees or (), strict=False):
        if lessee is not None:
            row.lessee, row.ttl = lessee
    return _encode(rows).decode()


class Stored(msgspec.Struct):
    """What ``store`` did: the rows inserted ``(id, status, run_at, queue, ready)``, an answer
    per spec (in order), the jobs whose priority dependents raised, and the queues of pending
    parents the insert locked (lessees that skipped them are woken after the commit)."""

    rows: list[Row]
    done: list[Enqueued]
    raised: list[Raised]
    parent_queues: set[str] = msgspec.field(default_factory=set)  # pending parents locked


async def store(conn: Conn, specs: Sequence[JobSpec], *, bump: bool = True) -> Stored:
    """Store a batch; committed on return. ``bump``: a raised pending job's dispatch_seq moves
    on (its Redis proposal is made again)."""
    stored = Stored([], [], [])
    if all(s.unique_key is None and not s.depends_on for s in specs):
        await _store_plain(conn, specs, stored, bump)
        return stored
    async with conn.transaction():
        if all(s.unique_key is None for s in specs):
            await _store_plain(conn, specs, stored, bump)
        else:
            stored.rows, stored.done = await _store_unique(conn, specs, stored, bump)
    return stored


async def _store_plain(conn: Conn, specs: Sequence[JobSpec], stored: Stored,
                       bump: bool) -> None:
    stored.rows = await _insert(conn, specs, stored, bump)
    by_id = {row[0]: row for row in stored.rows}
    by_id.update(await _known(conn, [s.id for s in specs if s.id not in by_id]))
    stored.done = _answers(specs, stored.rows, by_id, {})


async def store_handing_off(conn: Conn, specs: Sequence[JobSpec],
                            lessees: Sequence[Lessee | None]
                            ) -> tuple[list[Row], list[Enqueued], list[Job]]:
    """``store`` for a batch without unique keys in which ``lessees[i]``, when set, waits for
    ``specs[i]`` (``enqueue_handoff``); also returns the jobs stored leased to their lessee."""
    cur = await conn.execute(QUERIES["enqueue_handoff"], {"jobs": _batch_json(specs, lessees)})
    stored = await cur.fetchall()
    leased = [row_to_job(row[:20]) for row in stored if row[5] == "leased"]
    rows = [(row[0], row[5], row[10], row[3], row[20]) for row in stored]
    by_id = {row[0]: row for row in rows}
    by_id.update(await _known(conn, [s.id for s in specs if s.id not in by_id]))
    return rows, _answers(specs, rows, by_id, {}), leased


async def _store_unique(conn: Conn, specs: Sequence[JobSpec], stored: Stored,
                        bump: bool) -> tuple[list[Row], list[Enqueued]]:
    rows: list[Row] = []
    by_id: dict[uuid.UUID, Row] = {}
    holders: dict[Key, Row] = {}
    todo = list(specs)
    for _ in range(_ROUNDS):
        claims = _claims(todo)
        claimed = await _claim(conn, claims)
        new = await _insert(conn, [s for s in todo if s.unique_key is None or s.id in claimed],
                            stored, bump)
        rows += new
        by_id.update({row[0]: row for row in new})
        await _unclaim(conn, [c for c in claims if c.job_id in claimed and c.job_id not in by_id])
        by_id.update(await _known(conn, [s.id for s in todo if s.id not in by_id]))
        waiting = [s for s in todo if s.id not in by_id]  # their key is held by another job
        holders.update(await _holders(conn, waiting))
        todo = [s for s in waiting if _key(s) not in holders]
        if not todo:
            return rows, _answers(specs, rows, by_id, holders)
    raise StoreUnavailable("unique keys kept changing hands; try again")


def _key(spec: JobSpec) -> Key:
    return spec.queue, spec.unique_key or ""


def _claims(specs: Sequence[JobSpec]) -> list[_Claim]:
    """One claim per key, by the first job naming it (a later one with the same key in the
    batch is its duplicate), and per id (an id given twice is one job)."""
    keys: dict[Key, _Claim] = {}
    ids: set[uuid.UUID] = set()
    for s in specs:
        if s.unique_key is not None and _key(s) not in keys and s.id not in ids:
            keys[_key(s)] = _Claim(s.queue, s.unique_key, s.id, s.unique_for)
        ids.add(s.id)
    return list(keys.values())


async def _claim(conn: Conn, claims: list[_Claim]) -> set[uuid.UUID]:
    if not claims:
        return set()
    cur = await conn.execute(UNIQUE["claim_unique"], {"claims": _encode(claims).decode()})
    return {row[0] for row in await cur.fetchall()}


async def _unclaim(conn: Conn, claims: list[_Claim]) -> None:
    if claims:
        await conn.execute(UNIQUE["unclaim_unique"], {"claims": _encode(claims).decode()})


async def _insert(conn: Conn, specs: Sequence[JobSpec], stored: Stored,
                  bump: bool) -> list[Row]:
    if not specs:
        return []
    if any(s.depends_on for s in specs):  # in the caller's transaction
        inserted = await insert_dependent(conn, specs, bump=bump)
        stored.raised += inserted.raised
        stored.parent_queues |= inserted.parent_queues
        return inserted.rows
    cur = await conn.execute(QUERIES["enqueue"], {"jobs": _batch_json(specs)})
    return await cur.fetchall()


async def _known(conn: Conn, ids: list[uuid.UUID]) -> dict[uuid.UUID, Row]:
    """Ids already stored (a producer's retry is answered with the stored job)."""
    if not ids:
        return {}
    cur = await conn.execute(QUERIES["enqueue_known"], {"ids": list(set(ids))})
    return {row[0]: row for row in await cur.fetchall()}


async def _holders(conn: Conn, specs: Sequence[JobSpec]) -> dict[Key, Row]:
    """The jobs holding the keys of ``specs``; a key row whose job is gone is dropped, so the
    next round claims it."""
    if not specs:
        return {}
    keys = [{"queue": q, "unique_key": k} for q, k in {_key(s) for s in specs}]
    cur = await conn.execute(UNIQUE["unique_holders"], {"keys": _encode(keys).decode()})
    found = await cur.fetchall()
    await _unclaim(conn, [_Claim(q, k, job) for q, k, job, status, _ in found if status is None])
    return {(q, k): (job, status, run_at) for q, k, job, status, run_at in found
            if status is not None}


def _answers(specs: Sequence[JobSpec], rows: list[Row], by_id: dict[uuid.UUID, Row],
             holders: dict[Key, Row]) -> list[Enqueued]:
    fresh = {row[0] for row in rows}
    done = []
    for s in specs:  # an id given twice in one batch is created once, by its first place
        row = by_id.get(s.id)
        if row is None:
            job, status, run_at = holders[_key(s)]
            done.append(Enqueued(id=job, status=_STATUS[status], run_at=run_at, created=False,
                                 duplicate=True))
            continue
        done.append(Enqueued(id=s.id, status=_STATUS[row[1]], run_at=row[2],
                             created=s.id in fresh))
        fresh.discard(s.id)
    return done
