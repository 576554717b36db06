"""The Redis broker: Redis Streams dispatch with Postgres as the arbiter.

Enqueue commits to Postgres (group commit), then proposes ``(job, dispatch_seq)`` in Redis.
A lease pops the best proposals (``lua/lease.lua``) into this server's pending list, grants them
in Postgres with one fenced UPDATE (``queries.sql`` ``grant``) and hands them out; settling the
proposals in Redis (``lua/settle.lua``) follows in the background, batched across leases (an
unsettled proposal is harmless: its grant already bumped the sequence, so any copy is refused,
and reclaim returns it to ready where the next grant discards it). Ack, nack, extend and expiry
are the Postgres broker's lease-fenced updates; jobs that become pending again are proposed
anew. When Redis fails, leases come from Postgres (SKIP LOCKED) until Redis is back and rebuilt
(``mode.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from quorra.broker.base import BrokerEvents, CancelHook, Cancelled, Chore, Settled
from quorra.broker.handoff import Lessees
from quorra.broker.postgres import PostgresBroker
from quorra.broker.postgres.broker import CancelRow
from quorra.broker.postgres.dependent import Raised
from quorra.broker.postgres.extends import ExtendBatcher
from quorra.broker.postgres.group_commit import GroupCommitter
from quorra.broker.redis.config_check import RedisConfigCheck
from quorra.broker.redis.index import Entry, Proposal, RedisIndex
from quorra.broker.redis.mode import Mode, ModeState
from quorra.broker.redis.supervisor import QUERIES, Supervisor
from quorra.broker.wakeups import Wakeups
from quorra.core.errors import DispatchUnavailable
from quorra.core.jobs import Enqueued, Job, JobSpec, JobStatus
from quorra.core.limits import QueueLimits
from quorra.core.tasks import spawn
from quorra.core.webhooks import internal_queues
from quorra.db.pool import Pool, connection
from quorra.db.rows import row_to_job

__all__ = ["RedisBroker"]

log = logging.getLogger(__name__)

_LEASE_ROUNDS = 4  # bounded retries when proposals turn out stale
_BUSY_POLL = 0.05  # ready proposals but no wake-up: look again this soon (never a spin)
_CLOSE_TIMEOUT = 2.0


def _order(job: Job) -> tuple[int, datetime, uuid.UUID]:
    return (-job.priority, job.run_at, job.id)


class RedisBroker:
    supervisor_class: type[Supervisor] = Supervisor
    leases_in_redis = False  # PostgreSQL grants every lease: Redis holds none

    def __init__(self, postgres: PostgresBroker, pool: Pool, index: RedisIndex, *,
                 consumer: str | None = None, poll_interval: float = 0.5,
                 probe_interval: float = 0.25, reclaim_idle: float = 15.0,
                 sweep_age: float = 10.0, recover_after: float = 1.0,
                 min_fallback: float = 3.0, fail_after: float = 1.0,
                 consumer_idle: float = 3600.0) -> None:
        self.postgres = postgres
        self._pool = pool
        self._poll_interval = poll_interval
        self.state = ModeState(recover_after=recover_after, min_fallback=min_fallback,
                               fail_after=fail_after)
        self._wakeups = Wakeups()
        self.supervisor = self.supervisor_class(
            index, pool, self.state, self._wakeups,
            consumer=consumer or f"srv-{uuid.uuid4().hex[:12]}",
            probe_interval=probe_interval, reclaim_idle=reclaim_idle, sweep_age=sweep_age,
            consumer_idle=consumer_idle)
        postgres.after_insert(self._propose_inserted)  # one dispatch per group-committed batch
        # unblocked dependents and raised priorities: proposed right after their commit; a
        # stream lease not yet recorded is a pending row of its seq, which a raise must keep
        postgres.dependents.propose_with(self.supervisor.dispatch_ids, self._reprioritized)
        postgres.bump_raised = not self.leases_in_redis
        # Quorra's own queues (webhook deliveries) lease from Postgres in every mode, and so do
        # limited queues in grant mode: nothing of theirs goes to Redis.
        self.supervisor.unproposed = (
            internal_queues if self.leases_in_redis
            else lambda queues: postgres.known_limited(queues) | internal_queues(queues))
        postgres.on_freed(self._wakeups.wake)
        self._settler: GroupCommitter[tuple[str, Proposal], None] = GroupCommitter(
            self._settle_batch)
        self._settling: set[asyncio.Task[None]] = set()
        self._turn = itertools.count()
        self._extends = ExtendBatcher(pool, postgres)
        self.redis_config = RedisConfigCheck(  # eviction policy and AOF
            index.config, aof_required=self.leases_in_redis)

    @property
    def mode(self) -> Mode:
        return self.state.mode

    @property
    def index(self) -> RedisIndex:
        return self.supervisor.index

    def hand_off(self, lessees: Lessees | None) -> None:
        """Grants are PostgreSQL leases, so the insert may lease as well; stream leases live in
        Redis, where an insert cannot put them: no hand-off then."""
        self.postgres.hand_off(None if self.leases_in_redis else lessees, release=self.release)

    async def start(self) -> None:
        await self.postgres.start()
        await self.redis_config.check()  # warns at start unless noeviction (and AOF on)
        await self.supervisor.start()

    async def close(self) -> None:
        """Stop, and close the Redis client (the broker owns it)."""
        if self._settling:
            await asyncio.wait(self._settling, timeout=_CLOSE_TIMEOUT)
        await self.supervisor.close()
        await self.postgres.close()
        await self.index.close()

    def health(self) -> dict[str, Any]:
        return {"mode": self.state.mode.value, "redis": self.state.redis_health}

    async def config_report(self) -> dict[str, Any]:
        """Eviction policy and AOF, with warnings (never a reason to be unready: see
        ``config_check.py``)."""
        return {"redis_config": await self.redis_config.report()}

    def chores(self) -> list[Chore]:
        return [("dispatch_repair_sweep", self.repair, 5.0),
                ("dispatch_reclaim", self.reclaim, 5.0),
                ("check_redis_config", self.redis_config.check, 10.0)]

    def report_to(self, events: BrokerEvents) -> None:
        self.postgres.report_to(events)
        self.state.on_change = events.mode_changed  # every switch, the first rebuild too
        self.redis_config.on_result = lambda config: events.set_redis_config(config.checks())

    # -- enqueue -------------------------------------------------------------------------------

    async def enqueue(self, specs: Sequence[JobSpec]) -> list[Enqueued]:
        return await self.postgres.enqueue(specs)  # proposed in _propose_inserted

    async def _propose_inserted(self, specs: Sequence[JobSpec], done: list[Enqueued]) -> None:
        """Runs after each committed insert batch: the 201s no longer depend on Redis, and a
        proposal that fails here is made by the repair sweep later."""
        if not self.state.dispatches:
            return
        entries = [Entry(job_id=s.id, queue=s.queue, seq=0, priority=s.priority, run_at=d.run_at)
                   for s, d in zip(specs, done, strict=True)
                   if d.created and d.status is JobStatus.PENDING]  # not repeats nor hand-offs
        if entries:
            try:
                await self.supervisor.dispatch(entries)
            except DispatchUnavailable as exc:
                self.state.failed(exc.message)

    async def _reprioritized(self, raised: Sequence[Raised]) -> None:
        """Pending jobs whose priority dependents raised, their dispatch_seq bumped: proposed
        again (the old proposal is refused as stale)."""
        await self.supervisor.dispatch_ids([r.id for r in raised])

    # -- lease ---------------------------------------------------------------------------------

    async def lease(self, queues: Sequence[str], *, worker_id: str, limit: int,
                    ttl: float) -> list[Job]:
        jobs, queues = await self._lease_internal(queues, worker_id, limit, ttl)
        from_postgres = not self.state.leases_from_redis
        if not from_postgres:  # limited queues: from Postgres, which holds their limits
            limited = await self.postgres.limited(queues)
            if limited:
                if len(jobs) < limit:
                    jobs += await self.postgres.lease(limited, worker_id=worker_id,
                                                      limit=limit - len(jobs), ttl=ttl)
                queues = [queue for queue in queues if queue not in limited]
        if not from_postgres and queues:
            start = next(self._turn) % len(queues)  # take turns at which queue goes first
            try:
                for queue in [*queues[start:], *queues[:start]]:
                    if len(jobs) >= limit:
                        break
                    jobs += await self._lease_queue(queue, worker_id, limit - len(jobs), ttl)
            except DispatchUnavailable as exc:  # this call leases from Postgres (same fences)
                self.state.failed(exc.message)
                from_postgres = True
        if from_postgres and queues and len(jobs) < limit:
            jobs += await self.postgres.lease(queues, worker_id=worker_id,
                                              limit=limit - len(jobs), ttl=ttl)
        jobs.sort(key=_order)
        return jobs

    async def _lease_internal(self, queues: Sequence[str], worker_id: str, limit: int,
                              ttl: float) -> tuple[list[Job], list[str]]:
        """Jobs of Quorra's own queues, leased from Postgres (Redis never holds them), and the
        other queues."""
        internal = internal_queues(queues)
        if not internal:
            return [], list(queues)
        jobs = await self.postgres.lease(sorted(internal), worker_id=worker_id, limit=limit,
                                         ttl=ttl)
        return jobs, [queue for queue in queues if queue not in internal]

    async def _lease_queue(self, queue: str, worker_id: str, want: int,
                           ttl: float) -> list[Job]:
        jobs: list[Job] = []
        for _ in range(_LEASE_ROUNDS):
            _, proposals = await self.index.lease(queue, self.supervisor.consumer, want - len(jobs))
            if not proposals:
                break
            granted = await self._grant(proposals, worker_id, ttl)
            jobs += granted
            stale = len(proposals) - len(granted)
            if stale:
                await self._keep_skipped(queue, proposals, {job.id for job in granted})
            else:
                self._settle_later(queue, proposals)
            self.supervisor.stale_discarded += stale
            if not stale or len(jobs) >= want:
                break
        return jobs

    async def _keep_skipped(self, queue: str, proposals: Sequence[Proposal],
                            granted: set[uuid.UUID]) -> None:
        """Settle the proposals of a lease; those the grant skipped while still valid (their
        row was locked, e.g. by an enqueue of dependents) are proposed again at once rather
        than left to the repair sweep."""
        refused = [p for p in proposals if uuid.UUID(p.job_id) not in granted]
        params = {"ids": [p.job_id for p in refused], "seqs": [p.seq for p in refused]}
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["still_proposed"], params)
            valid = [row[0] for row in await cur.fetchall()]
        if not valid:
            self._settle_later(queue, proposals)
            return
        await self._settle(queue, proposals)  # first: settling drops their idx entries
        await self.supervisor.dispatch_ids(valid)

    async def _grant(self, proposals: Sequence[Proposal], worker_id: str,
                     ttl: float) -> list[Job]:
        params = {"ids": [p.job_id for p in proposals], "seqs": [p.seq for p in proposals],
                  "worker_id": worker_id, "ttl": ttl}
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["grant"], params)
            return [row_to_job(row) for row in await cur.fetchall()]

    def _settle_later(self, queue: str, proposals: Sequence[Proposal]) -> None:
        spawn("quorra-redis-settle", self._settle(queue, proposals), keep=self._settling)

    async def _settle(self, queue: str, proposals: Sequence[Proposal]) -> None:
        try:
            await self._settler.submit([(queue, p) for p in proposals])
        except DispatchUnavailable as exc:  # granted anyway; reclaim cleans up later
            self.state.failed(exc.message)

    async def _settle_batch(self, items: list[tuple[str, Proposal]]) -> list[None]:
        by_queue: dict[str, list[Proposal]] = defaultdict(list)
        for queue, proposal in items:
            by_queue[queue].append(proposal)
        for queue, proposals in by_queue.items():
            await self.index.settle(queue, proposals)
        return [None] * len(items)

    async def settled(self) -> None:
        """Wait until the proposals granted so far are settled in Redis (or failed to)."""
        for _ in range(100):  # bounded: each round waits for the settles started before it
            if not self._settling:
                return
            await asyncio.wait(set(self._settling))

    # -- settle --------------------------------------------------------------------------------

    async def ack(self, job_id: uuid.UUID, lease_id: uuid.UUID, result: Any = None) -> Settled:
        return await self.postgres.ack(job_id, lease_id, result)  # group-committed there

    async def ack_many(self, acks: Sequence[tuple[uuid.UUID, uuid.UUID, Any]]
                       ) -> list[Settled]:
        return await self.postgres.ack_many(acks)

    async def release(self, leases: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> list[uuid.UUID]:
        released = await self.postgres.release(leases)
        await self.supervisor.dispatch_ids(released)  # pending and ready again: propose them
        return released

    async def nack(self, job_id: uuid.UUID, lease_id: uuid.UUID, error: str, *,
                   retry: bool = True) -> Settled:
        settled = await self.postgres.nack(job_id, lease_id, error, retry=retry)
        if settled.status is JobStatus.PENDING:
            await self.supervisor.dispatch_ids([settled.id])
        return settled

    async def extend(self, job_id: uuid.UUID, lease_id: uuid.UUID, ttl: float) -> datetime:
        return await self._extends.extend(job_id, lease_id, ttl)

    async def reap_expired(self, limit: int = 500) -> list[Settled]:
        reaped = await self.postgres.reap_expired(limit)
        await self.supervisor.dispatch_ids(
            [s.id for s in reaped if s.status is JobStatus.PENDING])
        return reaped

    # -- operator actions ----------------------------------------------------------------------

    async def retry(self, job_id: uuid.UUID) -> Job:
        job = await self.postgres.retry(job_id)
        await self.supervisor.dispatch_ids([job.id])
        return job

    async def retry_dead(self, queue: str) -> int:
        count = await self.postgres.retry_dead(queue)
        if count and self.state.dispatches:  # rare and operator-driven: a full sweep proposes them
            try:
                await self.supervisor.sweep(age=0)
            except DispatchUnavailable as exc:
                self.state.failed(exc.message)
        return count

    async def delete(self, job_id: uuid.UUID) -> None:
        # Redis may still hold a proposal for the job: its grant finds no row and settles it.
        await self.postgres.delete(job_id)

    async def cancel(self, job_id: uuid.UUID) -> Cancelled:
        cancelled, row = await self.postgres.cancel_row(job_id)  # the truth, first
        voided = await self._drop_cancelled([] if row is None else [row])
        await self._announce([cancelled], voided)
        return cancelled

    async def cancel_many(self, queue: str | None, type_: str | None,
                          limit: int) -> list[Cancelled]:
        rows = await self.postgres.cancel_many_rows(queue, type_, limit)
        cancelled = [row.cancelled for row in rows]
        await self._announce(cancelled, await self._drop_cancelled(rows))
        return cancelled

    async def _announce(self, cancelled: Sequence[Cancelled],
                        voided: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        pairs = {c.lease_id: c.id for c in cancelled if c.lease_id is not None}
        pairs.update({lease: job for job, lease in voided})
        await self.postgres.announce_voided([(job, lease) for lease, job in pairs.items()])

    async def _drop_cancelled(self, rows: Sequence[CancelRow]
                              ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Drop the cancelled jobs' proposals from Redis; returns the ``(job, lease)`` of leases
        Redis held for them (stream leases). Best effort here: the grant refuses a job that is
        no longer pending, so a proposal left behind is settled as stale when popped."""
        try:
            return await self._redis_cancel(rows)
        except DispatchUnavailable as exc:
            self.state.failed(exc.message)
            return []

    async def _redis_cancel(self, rows: Sequence[CancelRow]
                            ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """``lua/cancel.lua`` per queue: proposals, bodies and stream leases of the jobs."""
        voided: list[tuple[uuid.UUID, uuid.UUID]] = []
        if not rows or not self.state.dispatches:
            return voided
        by_queue: dict[str, list[Entry]] = defaultdict(list)
        for row in rows:
            c = row.cancelled
            by_queue[c.queue].append(Entry(job_id=c.id, queue=c.queue, seq=row.seq,
                                           priority=row.priority, run_at=row.run_at))
        for queue, entries in by_queue.items():
            held = await self.index.cancel(queue, entries)
            voided += [(uuid.UUID(job), uuid.UUID(rec.split("|", 1)[0]))
                       for job, rec in held.items()]
        return voided

    def on_cancel(self, hook: CancelHook) -> None:
        self.postgres.on_cancel(hook)

    async def set_paused(self, queue: str, paused: bool) -> None:
        await self.postgres.set_paused(queue, paused)  # the truth, and Postgres-mode wake-ups
        await self.supervisor.set_paused(queue, paused)
        if not paused:
            self._wakeups.wake((queue,))

    async def set_limits(self, queue: str, limits: QueueLimits) -> None:
        await self.postgres.set_limits(queue, limits)
        if not limits.any and not self.leases_in_redis and self.state.dispatches:
            try:  # its jobs were not proposed while it was limited: propose them now
                await self.supervisor.sweep(age=0, queue=queue)
            except DispatchUnavailable as exc:
                self.state.failed(exc.message)
        self._wakeups.wake((queue,))

    async def get_limits(self, queue: str) -> QueueLimits:
        return await self.postgres.get_limits(queue)

    async def purge_finished(self, status: JobStatus, age: float, limit: int) -> list[str]:
        return await self.postgres.purge_finished(status, age, limit)  # nothing of them in Redis

    async def fold_counts(self) -> None:
        await self.postgres.fold_counts()

    # -- wait ----------------------------------------------------------------------------------

    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        if not self.state.leases_from_redis or internal_queues(queues) == set(queues):
            await self.postgres.wait_for_jobs(queues, timeout)
            return
        with self._wakeups.listen(queues) as woken:  # before looking: no wake-up is lost
            try:
                waits = [await self.index.next_wait(queue) for queue in queues]
            except DispatchUnavailable as exc:
                self.state.failed(exc.message)
                await self.postgres.wait_for_jobs(queues, timeout)
                return
            await self._wakeups.until(woken, self.postgres.limit_wait(
                queues, self._wait_limit(waits, timeout)))

    def _wait_limit(self, waits: Sequence[int], timeout: float) -> float:
        """Ready proposals woke lessees when dispatched, and a lessee that got a full batch
        looks again by itself: so ready ones are looked at again soon, not at once (no spin
        while every stream is busy). Otherwise until the next delayed job is due."""
        limit = min(timeout, _BUSY_POLL if 0 in waits else self._poll_interval)
        due = [w for w in waits if w > 0]
        if due:
            limit = min(limit, min(due) / 1000)
        return limit

    # -- maintenance (housekeeping chores) -------------------------------------------------------

    async def repair(self) -> int:
        return await self.supervisor.repair()

    async def reclaim(self) -> int:
        return await self.supervisor.reclaim()
