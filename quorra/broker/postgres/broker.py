"""The Postgres-only broker: each operation is one named query from ``queries.sql``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

from quorra.broker.base import BrokerEvents, CancelHook, Chore, Settled
from quorra.broker.handoff import Lessees
from quorra.broker.postgres.cancel import CancelRow, Cancels
from quorra.broker.postgres.dependent import Raised
from quorra.broker.postgres.enqueue import store, store_handing_off
from quorra.broker.postgres.group_commit import GroupCommitter
from quorra.broker.postgres.limits import Limiter
from quorra.broker.postgres.unblock import Dependents
from quorra.broker.postgres.waker import Waker
from quorra.core.errors import (
    InvalidTransition,
    JobNotFound,
    LeaseLost,
    QueueNotFound,
    QuorraError,
)
from quorra.core.jobs import Enqueued, Job, JobSpec, JobStatus, round_timeout
from quorra.core.limits import QueueLimits
from quorra.db.pool import Pool, connection
from quorra.db.rows import row_to_job
from quorra.db.sqlfiles import load_queries

__all__ = ["CancelRow", "PostgresBroker"]  # CancelRow: from cancel.py

QUERIES = load_queries("quorra.broker.postgres")
log = logging.getLogger(__name__)

AfterInsert = Callable[[Sequence[JobSpec], list[Enqueued]], Awaitable[None]]
Release = Callable[[Sequence[tuple[uuid.UUID, uuid.UUID]]], Awaitable[list[uuid.UUID]]]
_encode = msgspec.json.encode


class _Ack(msgspec.Struct):
    """One ack of a group-committed batch (``ack_batch`` reads it with ``jsonb_to_recordset``)."""

    id: uuid.UUID
    lease_id: uuid.UUID
    result: msgspec.Raw | None


_STATUS = {status.value: status for status in JobStatus}  # a dict lookup is ~10x JobStatus(s)


def _settled(row: tuple[Any, ...]) -> Settled:
    """``(id, queue, status, ran, age, timed_out, has_dependents)``."""
    return Settled(id=row[0], queue=row[1], status=_STATUS[row[2]], ran_seconds=row[3],
                   age_seconds=row[4], timed_out=row[5] is True, parent=row[6] is True)


class PostgresBroker(Cancels):
    def __init__(self, pool: Pool, url: str, *,
                 poll_interval: float = 0.5, group_commit: bool = True,
                 default_timeout: float | None = None) -> None:
        self._pool = pool
        # jobs enqueued without a time limit get this one (None: none)
        self._default_timeout = round_timeout(default_timeout) if default_timeout else None
        self._poll_interval = poll_interval
        self._waker = Waker(url, pool)
        self._limits = Limiter(pool)
        self._committer: GroupCommitter[JobSpec, Enqueued] | None = (
            GroupCommitter(self._insert) if group_commit else None
        )
        self._acker: GroupCommitter[_Ack, Settled | QuorraError] | None = (
            GroupCommitter(self._ack_batch) if group_commit else None
        )
        self._after_insert: AfterInsert | None = None
        # jobs a parent's success made pending, priorities raised: woken and proposed
        self.dependents = Dependents(pool, self._waker)
        self.bump_raised = True  # a raised pending job's dispatch_seq moves on (see store)
        self._lessees: Lessees | None = None
        self._freed_hooks: list[Callable[[set[str]], None]] = []
        self._give_back: Release = self.release
        self._cancel_hooks: list[CancelHook] = []
        self._waker.on_cancel(self.tell_cancelled)

    def after_insert(self, hook: AfterInsert) -> None:
        """Run ``hook(specs, enqueued)`` once per committed insert batch, before its callers
        are answered (the Redis broker proposes the new jobs there: one dispatch per batch)."""
        self._after_insert = hook

    def hand_off(self, lessees: Lessees | None, *, release: Release | None = None) -> None:
        """Lease jobs enqueued here to this process's idle lessees in the insert itself
        (``quorra/broker/handoff.py``); ``None`` turns it off. ``release`` gives back the jobs
        of an offer withdrawn meanwhile (a driver built on this one passes its own)."""
        self._lessees = lessees
        self._give_back = release or self.release

    def chores(self) -> list[Chore]:
        return []  # its sweeps are the service's (reap, retention), common to every driver

    def health(self) -> dict[str, Any]:
        return {"mode": "postgres", "redis": "not configured"}

    async def config_report(self) -> dict[str, Any]:
        return {}

    def report_to(self, events: BrokerEvents) -> None:
        self.dependents.on_unblocked(events.jobs_unblocked)  # last parent succeeded

    async def start(self) -> None:
        self._waker.start()

    async def close(self) -> None:
        await self._waker.close()

    async def enqueue(self, specs: Sequence[JobSpec]) -> list[Enqueued]:
        if self._default_timeout is not None:
            specs = [s if s.timeout_seconds is not None else
                     msgspec.structs.replace(s, timeout_seconds=self._default_timeout)
                     for s in specs]
        if self._committer is None:
            return await self._insert(specs)
        return await self._committer.submit(specs)

    async def _insert(self, specs: Sequence[JobSpec]) -> list[Enqueued]:
        offers = None if self._lessees is None else self._lessees.claim_for(specs)
        leased: list[Job] = []
        raised: list[Raised] = []
        woken: set[str] = set()
        try:
            async with connection(self._pool) as conn:
                if offers is None:
                    stored = await store(conn, specs, bump=self.bump_raised)
                    rows, done = stored.rows, stored.done
                    raised = [r for r in stored.raised if r.status == "pending"]
                    woken = stored.parent_queues
                else:
                    lessees = [None if o is None else (o.worker_id, o.ttl) for o in offers]
                    rows, done, leased = await store_handing_off(conn, specs, lessees)
        finally:  # claimed offers are answered whatever happened (none: they lease as usual)
            if offers is not None and self._lessees is not None:
                await self._release_refused(self._lessees.answer(specs, offers, leased))
        self._waker.announce({row[3] for row in rows if row[4]} | woken)
        if self._after_insert is not None:
            await self._after_insert(specs, done)
        await self.dependents.raised(raised)
        return done

    async def _release_refused(self, refused: list[Job]) -> None:
        """Give back jobs leased to an offer withdrawn meanwhile (``handoff.py``)."""
        if not refused:
            return
        try:
            await self._give_back([(job.id, job.lease_id) for job in refused
                                   if job.lease_id is not None])
        except QuorraError as exc:  # their leases expire and the jobs run then
            log.warning("releasing %d jobs a stopped lessee refused failed: %s",
                        len(refused), exc.message)

    async def lease(self, queues: Sequence[str], *, worker_id: str, limit: int,
                    ttl: float) -> list[Job]:
        params = {"queues": list(queues), "limit": limit, "worker_id": worker_id, "ttl": ttl,
                  "limited": False}
        rows: list[tuple[Any, ...]] = []
        limited = await self._limits.limited(queues)
        for queue in limited:  # first: bounded by their limits, they cannot starve the others
            if len(rows) < limit:
                rows += await self._limits.lease(queue, {**params, "limit": limit - len(rows)})
        if len(rows) < limit and len(limited) < len(queues):
            async with connection(self._pool) as conn:
                # Planned each time, never prepared: under the generic plan of a prepared
                # statement the index scan never marks the entries of already leased jobs dead,
                # so every lease visits all of them until a vacuum (measured: 0.5 -> 14 ms after
                # 60,000 leases; planned each time: 0.9 ms).
                cur = await conn.execute(QUERIES["lease"], {**params, "limit": limit - len(rows)},
                                         prepare=False)
                rows += await cur.fetchall()
        jobs = [row_to_job(row) for row in rows]
        jobs.sort(key=lambda job: (-job.priority, job.run_at, job.id))
        return jobs

    async def set_limits(self, queue: str, limits: QueueLimits) -> None:
        await self._limits.set(queue, limits)
        self._waker.announce({queue})  # a raised limit may free slots here and on every replica

    async def get_limits(self, queue: str) -> QueueLimits:
        return await self._limits.get(queue)

    async def limited(self, queues: Sequence[str]) -> list[str]:
        """Those of ``queues`` with a limit (re-read at most every second)."""
        return await self._limits.limited(queues)

    def _freed(self, queues: Iterable[str]) -> None:
        """Jobs of these queues were settled: a limited one has a free slot, so wake lessees."""
        limited = self._limits.touched(queues)
        if limited:
            self._waker.wake(limited)
            for hook in self._freed_hooks:
                hook(limited)

    def on_freed(self, hook: Callable[[set[str]], None]) -> None:
        """Call ``hook(queues)`` when jobs of limited queues were settled here (a slot freed)."""
        self._freed_hooks.append(hook)

    def known_limited(self, queues: Iterable[str]) -> set[str]:
        """Those of ``queues`` limited as last read (no I/O)."""
        return self._limits.touched(queues)

    def limit_wait(self, queues: Sequence[str], timeout: float) -> float:
        """``timeout`` cut to when a spent rate window of ``queues`` reopens."""
        return self._limits.wait_limit(queues, timeout)

    async def ack(self, job_id: uuid.UUID, lease_id: uuid.UUID, result: Any = None) -> Settled:
        encoded = None if result is None else _encode(result).decode()
        if self._acker is None:
            row = await self._fenced("ack", {"id": job_id, "lease_id": lease_id,
                                             "result": encoded})
            settled = _settled(row)
            self._freed([settled.queue])
            await self.dependents.unblock([settled])
            return settled
        raw = None if result is None else msgspec.Raw(_encode(result))
        (outcome,) = await self._acker.submit([_Ack(job_id, lease_id, raw)])
        if isinstance(outcome, QuorraError):
            raise outcome
        return outcome

    async def _ack_batch(self, acks: Sequence[_Ack]) -> list[Settled | QuorraError]:
        """Acks that arrived together, in one fenced UPDATE and one commit. Should one job
        appear twice, its later acks run after, one by one, as if they had come later."""
        first: dict[uuid.UUID, int] = {}
        for index, ack in enumerate(acks):
            first.setdefault(ack.id, index)
        unique = [acks[i] for i in first.values()]
        outcomes: list[Settled | QuorraError] = []
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["ack_batch"], {"acks": _encode(unique).decode()})
            settled = {row[0]: _settled(row) for row in await cur.fetchall()}
            lost = [ack.id for ack in unique if ack.id not in settled]
            unknown: set[uuid.UUID] = set()
            if lost:
                cur = await conn.execute(QUERIES["missing"], {"ids": lost})
                unknown = {row[0] for row in await cur.fetchall()}
            for index, ack in enumerate(acks):
                if first[ack.id] == index:
                    done = settled.get(ack.id)
                    outcomes.append(done if done is not None else (
                        JobNotFound() if ack.id in unknown else LeaseLost()))
                    continue
                result = None if ack.result is None else bytes(ack.result).decode()
                cur = await conn.execute(QUERIES["ack"], {"id": ack.id, "lease_id": ack.lease_id,
                                                          "result": result})
                row = await cur.fetchone()
                outcomes.append(_settled(row) if row is not None else (
                    JobNotFound() if ack.id in unknown else LeaseLost()))
        self._freed(o.queue for o in outcomes if isinstance(o, Settled))
        await self.dependents.unblock([o for o in outcomes if isinstance(o, Settled)])
        return outcomes

    async def ack_many(self, acks: Sequence[tuple[uuid.UUID, uuid.UUID, Any]]
                       ) -> list[Settled]:
        """A worker's batch of acks; batches of several workers arriving together share one
        statement and one commit (the same group commit as single acks)."""
        if not acks:
            return []
        items = [_Ack(job_id, lease_id, None if result is None else msgspec.Raw(_encode(result)))
                 for job_id, lease_id, result in acks]
        outcomes = (await self._ack_batch(items) if self._acker is None
                    else await self._acker.submit(items))
        return [outcome for outcome in outcomes if isinstance(outcome, Settled)]

    async def nack(self, job_id: uuid.UUID, lease_id: uuid.UUID, error: str, *,
                   retry: bool = True) -> Settled:
        params = {"id": job_id, "lease_id": lease_id, "error": error, "retry": retry}
        settled = _settled(await self._fenced("nack", params))
        self._freed([settled.queue])
        return settled

    async def extend(self, job_id: uuid.UUID, lease_id: uuid.UUID, ttl: float) -> datetime:
        row = await self._fenced("extend", {"id": job_id, "lease_id": lease_id, "ttl": ttl})
        deadline: datetime = row[0]
        return deadline

    async def _fenced(self, query: str, params: dict[str, Any]) -> tuple[Any, ...]:
        """Run a lease-fenced update; no row means the lease is lost (or the job unknown)."""
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES[query], params)
            row = await cur.fetchone()
            if row is not None:
                return row
            cur = await conn.execute(QUERIES["exists"], {"id": params["id"]})
            if await cur.fetchone() is None:
                raise JobNotFound()
        raise LeaseLost()

    async def release(self, leases: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> list[uuid.UUID]:
        if not leases:
            return []
        params = {"ids": [job for job, _ in leases], "lease_ids": [lease for _, lease in leases]}
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["release"], params)
            rows = await cur.fetchall()
        self._waker.announce({row[1] for row in rows})
        return [row[0] for row in rows]

    def announce(self, queues: Iterable[str]) -> None:
        """Jobs of ``queues`` became ready through another driver's statements: wake lessees
        here at once and on other servers (NOTIFY)."""
        self._waker.announce(queues)

    async def reap_expired(self, limit: int = 500) -> list[Settled]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["reap_expired"], {"limit": limit})
            reaped = [_settled(row) for row in await cur.fetchall()]
        self._freed(s.queue for s in reaped)
        return reaped

    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        await self._waker.wait(queues, self._limits.wait_limit(
            queues, min(timeout, self._poll_interval)))

    async def retry(self, job_id: uuid.UUID) -> Job:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["retry"], {"id": job_id})
            row = await cur.fetchone()
            if row is None:
                await self._must_exist(conn, job_id)
                raise InvalidTransition("only a dead or cancelled job can be retried")
        job = row_to_job(row)
        self._waker.announce({job.queue})
        return job

    async def retry_dead(self, queue: str) -> int:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["retry_dead"], {"queue": queue})
            count = len(await cur.fetchall())
        if count:
            self._waker.announce({queue})
        return count

    async def delete(self, job_id: uuid.UUID) -> None:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["delete"], {"id": job_id})
            if await cur.fetchone() is None:
                await self._must_exist(conn, job_id)
                raise InvalidTransition("a leased job cannot be deleted; wait for its worker")

    @staticmethod
    async def _must_exist(conn: AsyncConnection[Any], job_id: uuid.UUID) -> None:
        cur = await conn.execute(QUERIES["exists"], {"id": job_id})
        if await cur.fetchone() is None:
            raise JobNotFound()

    # -- queue control and retention -----------------------------------------------------------

    async def set_paused(self, queue: str, paused: bool) -> None:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["queue_known"], {"queue": queue})
            row = await cur.fetchone()
            if not (row and row[0]):
                raise QueueNotFound(f"queue {queue!r} has no job and was never paused")
            await conn.execute(QUERIES["pause"], {"queue": queue, "paused": paused})
        if not paused:
            self._waker.announce({queue})  # wake lessees here and, by NOTIFY, on every replica

    async def purge_finished(self, status: JobStatus, age: float, limit: int) -> list[str]:
        params = {"status": status.value, "age": age, "limit": limit}
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["purge_finished"], params)
            return [row[0] for row in await cur.fetchall()]

    async def fold_counts(self) -> None:
        async with connection(self._pool) as conn:
            await conn.execute(QUERIES["fold_counts"])
            await conn.execute(QUERIES["drop_zero_counts"])
