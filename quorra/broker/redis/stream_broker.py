"""Stream leases (``QUORRA_REDIS_LEASES=stream``): in Redis mode the lease lives in Redis.

A lease is one script (``lua/stream_lease.lua``): promote due delayed jobs, pop the best ready
ones, deliver them through the queue's stream consumer group (one consumer per server process)
and record each lease (id, entry, deadline, seq, worker) in the queue's ``leases`` hash; the
job bodies were stored at dispatch. No PostgreSQL statement runs on that path: the
``LeaseRecorder`` writes the leases in batches shortly after, off the path.

Ack, nack, release and extend are fenced in Redis by lease id first; the outcome is then
committed in PostgreSQL by a statement that accepts the recorded lease or one not recorded yet
(``stream_queries.sql``), and only then is the caller answered; Redis forgets the lease after
(XACK + XDEL, body deleted). Expired leases are taken back by XAUTOCLAIM and committed as failed
attempts. A lease Redis no longer holds (emptied, restored, unreachable) settles by PostgreSQL's
record alone, exactly as in Postgres-only mode.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from quorra.broker.base import BrokerEvents, Settled
from quorra.broker.postgres import PostgresBroker
from quorra.broker.postgres.broker import CancelRow
from quorra.broker.postgres.dependent import Raised
from quorra.broker.postgres.group_commit import GroupCommitter
from quorra.broker.redis.broker import RedisBroker
from quorra.broker.redis.index import Entry
from quorra.broker.redis.recorder import LeaseRecorder, Record
from quorra.broker.redis.stream_index import (
    BodyEntry,
    Held,
    StreamIndex,
    encode_body,
    from_ms,
    timeout_ms,
)
from quorra.broker.redis.stream_supervisor import STREAM_QUERIES, StreamSupervisor, body_entries
from quorra.core.errors import DispatchUnavailable, JobNotFound, LeaseLost, QuorraError
from quorra.core.jobs import TIMED_OUT, Enqueued, Job, JobSpec, JobStatus
from quorra.core.limits import QueueLimits
from quorra.core.tasks import spawn, supervise
from quorra.db.pool import Pool, connection

__all__ = ["StreamBroker"]

log = logging.getLogger(__name__)

_STATUS = {status.value: status for status in JobStatus}
_HELD_GRACE_MS = 60_000  # forget this process's note of a lease this long after its deadline
# one reap call's XAUTOCLAIM paging (all queues): a busy server's pending lists may take a few
# calls to cover, but the reaper never overruns its interval
EXPIRY_SCAN_SECONDS = 0.25
_encode = msgspec.json.encode


class _Ack(msgspec.Struct):
    id: uuid.UUID
    lease_id: uuid.UUID
    result: msgspec.Raw | None


class _AckRow(msgspec.Struct):
    id: uuid.UUID
    lease_id: uuid.UUID
    seq: int | None
    leased_ms: int | None
    worker: str | None
    result: msgspec.Raw | None


class _LeaseRow(msgspec.Struct):
    id: uuid.UUID
    lease_id: uuid.UUID
    seq: int | None
    leased_ms: int | None = None
    worker: str | None = None
    deadline_ms: int | None = None


def _settled(row: Sequence[Any], *, timed_out: bool = False) -> Settled:
    """A settle row of ``stream_queries.sql``: ack's (6 columns, has_dependents last), or
    nack's and expire's (17, the same last)."""
    return Settled(id=row[0], queue=row[1], status=_STATUS[row[2]], ran_seconds=row[3],
                   age_seconds=row[4], timed_out=timed_out,
                   parent=len(row) in (6, 17) and row[-1] is True)


def _redispatch(rows: Sequence[Sequence[Any]]) -> list[Entry]:
    """The jobs of settle rows (see ``stream_queries.sql``) that are pending again."""
    return body_entries([(r[0], r[1], *r[5:]) for r in rows if r[2] == "pending"])


def _order(job: Job) -> tuple[int, datetime, uuid.UUID]:
    return (-job.priority, job.run_at, job.id)


class StreamBroker(RedisBroker):
    supervisor_class = StreamSupervisor
    leases_in_redis = True  # until recorded, a lease lives only in Redis (AOF matters)
    supervisor: StreamSupervisor

    def __init__(self, postgres: PostgresBroker, pool: Pool, index: StreamIndex, *,
                 record_interval: float = 0.75, **kwargs: Any) -> None:
        super().__init__(postgres, pool, index, **kwargs)
        self.recorder = LeaseRecorder(pool, STREAM_QUERIES["record"], interval=record_interval)
        self._held: dict[uuid.UUID, tuple[str, int]] = {}  # lease id -> (queue, deadline ms)
        self._queues: set[str] = set()  # where XAUTOCLAIM looks
        self._expiry_cursors: dict[str, str] = {}  # where its next page starts, per queue
        self._acker: GroupCommitter[_Ack, Settled | QuorraError] = GroupCommitter(
            self._ack_batch)
        self._forgetter: GroupCommitter[tuple[str, Held], None] = GroupCommitter(
            self._forget_batch)
        self._recording: asyncio.Task[None] | None = None
        self.redis_expired = 0  # leases taken back by XAUTOCLAIM and committed as failures
        self.unrecorded_lost = 0  # leases PostgreSQL never saw when Redis was rebuilt
        self.on_leases_lost: Callable[[int], None] = lambda count: None  # e.g. a counter
        # (queue, count) of leases XAUTOCLAIM took back and PostgreSQL expired
        self.on_expired: Callable[[str, int], None] = lambda queue, count: None
        self.supervisor.on_rebuild = self._rebuilding
        self._forgetting = asyncio.Lock()
        self._postgres_leases = 0  # PostgreSQL leases running (while Redis is not the path)
        self._no_postgres_leases = asyncio.Event()
        self._no_postgres_leases.set()

    def report_to(self, events: BrokerEvents) -> None:
        super().report_to(events)
        self.on_leases_lost = events.leases_lost
        self.on_expired = events.expired_in_redis

    @property
    def index(self) -> StreamIndex:
        return self.supervisor.index

    async def start(self) -> None:
        await super().start()
        self._recording = supervise("quorra-lease-recorder", self.recorder.run)

    async def close(self) -> None:
        if self._recording is not None:
            self._recording.cancel()
            await asyncio.wait([self._recording], timeout=2.0)
        try:
            async with asyncio.timeout(2.0):
                await self.recorder.flush()
        except (QuorraError, TimeoutError):
            pass  # unrecorded leases settle through Redis, or run again after their loss
        await super().close()

    def health(self) -> dict[str, Any]:
        return {**super().health(), "leases": "stream", "unrecorded_leases": self.recorder.backlog,
                "leases_lost_unrecorded": self.unrecorded_lost}

    def _rebuilding(self) -> None:
        """A rebuild starts (Redis emptied, replaced, or back after an outage): leases not yet
        recorded are either still in Redis (they settle there) or lost with it (their jobs are
        pending and will be proposed again; each may run twice): never record them late."""
        lost = self.recorder.drop_queued()
        self.unrecorded_lost += lost
        if lost:
            self.on_leases_lost(lost)
            log.warning("%d leases not yet recorded in PostgreSQL may run again", lost)

    async def recorded(self) -> None:
        """Write the leases made so far to PostgreSQL now (tests, operators' reads)."""
        await self.recorder.flush()

    # -- enqueue -------------------------------------------------------------------------------

    async def enqueue(self, specs: Sequence[JobSpec]) -> list[Enqueued]:
        done = await self.postgres.enqueue(specs)
        again = [i for i, d in enumerate(done)
                 if not d.created and d.status is JobStatus.PENDING]
        if again and self.recorder.backlog:
            # A producer's retry of a stored job is answered with its state: a lease of ours
            # PostgreSQL has not recorded yet would read as pending, so record first.
            await self.recorder.flush()
            reread = await self.postgres.enqueue([specs[i] for i in again])
            for i, d in zip(again, reread, strict=True):
                done[i] = d
        return done

    async def _propose_inserted(self, specs: Sequence[JobSpec], done: list[Enqueued]) -> None:
        if not self.state.dispatches:
            return
        now = datetime.now(UTC)
        entries: list[Entry] = []
        for s, d in zip(specs, done, strict=True):
            if not d.created or d.status is not JobStatus.PENDING:  # blocked: not yet
                continue
            created = d.run_at - timedelta(seconds=s.delay_seconds) if s.run_at is None else now
            body = encode_body(type_=s.type, payload=s.payload, priority=s.priority, attempts=0,
                               max_retries=s.max_retries, run_at=d.run_at,
                               created_at=min(created, now), last_error=None,
                               timeout=s.timeout_seconds, traceparent=s.traceparent)
            entries.append(BodyEntry(job_id=s.id, queue=s.queue, seq=0, priority=s.priority,
                                     run_at=d.run_at, body=body))
        if entries:
            try:
                await self.supervisor.dispatch(entries)
            except DispatchUnavailable as exc:
                self.state.failed(exc.message)

    async def _reprioritized(self, raised: Sequence[Raised]) -> None:
        """Pending jobs whose priority dependents raised: their proposals move in place, with
        the same seq (a lease of theirs not recorded yet is fenced by it) and a new body."""
        if not self.state.dispatches:
            return
        old = {r.id: r.old_priority for r in raised}
        try:
            await self.index.rescore(await self.supervisor.bodies([r.id for r in raised]), old)
        except DispatchUnavailable as exc:
            self.state.failed(exc.message)

    # -- lease ---------------------------------------------------------------------------------

    async def lease(self, queues: Sequence[str], *, worker_id: str, limit: int,
                    ttl: float) -> list[Job]:
        jobs, queues = await self._lease_internal(queues, worker_id, limit, ttl)
        if not self.state.leases_from_redis:
            if queues and len(jobs) < limit:
                jobs += await self._lease_from_postgres(queues, worker_id, limit - len(jobs), ttl)
            return jobs
        if not queues:
            return jobs
        start = next(self._turn) % len(queues)
        try:
            await self._drop_stale_proposals()
            for queue in [*queues[start:], *queues[:start]]:
                if len(jobs) >= limit:
                    break
                jobs += await self._lease_queue(queue, worker_id, limit - len(jobs), ttl)
        except DispatchUnavailable as exc:
            # No PostgreSQL lease for this one call: Redis may hold live proposals of the same
            # jobs, and a stream lease has no grant to refuse them. The caller looks again.
            self.state.failed(exc.message)
        jobs.sort(key=_order)
        return jobs

    async def _lease_from_postgres(self, queues: Sequence[str], worker_id: str, limit: int,
                                   ttl: float) -> list[Job]:
        self._postgres_leases += 1
        self._no_postgres_leases.clear()
        try:
            jobs = await self.postgres.lease(queues, worker_id=worker_id, limit=limit, ttl=ttl)
            self.supervisor.leased_from_postgres((job.queue, job.id) for job in jobs)
            return jobs
        finally:
            self._postgres_leases -= 1
            if not self._postgres_leases:
                self._no_postgres_leases.set()

    async def _drop_stale_proposals(self) -> None:
        """Back in Redis mode: before any stream lease, wait for PostgreSQL leases still
        running and drop the proposals of every job leased from PostgreSQL meanwhile."""
        if not self.supervisor.postgres_leased and not self._forgetting.locked() \
                and self._no_postgres_leases.is_set():
            return
        await self._no_postgres_leases.wait()
        async with self._forgetting:
            await self.supervisor.forget_postgres_leases()

    async def _lease_queue(self, queue: str, worker_id: str, want: int,
                           ttl: float) -> list[Job]:
        _, leases = await self.index.lease(queue, self.supervisor.consumer, want, ttl=ttl,
                                           worker=worker_id)
        self._queues.add(queue)
        records = []
        for lease in leases:
            assert lease.job.lease_id is not None
            self._held[lease.job.lease_id] = (queue, lease.deadline_ms)
            limit = timeout_ms(lease.job.timeout_seconds)
            records.append(Record(id=lease.job.id, seq=lease.seq, lease_id=lease.job.lease_id,
                                  leased_ms=lease.leased_ms, deadline_ms=lease.deadline_ms,
                                  worker=worker_id, queue=queue,
                                  limit_ms=lease.leased_ms + limit if limit else None))
        self.recorder.add(records)
        return [lease.job for lease in leases]

    # -- fences --------------------------------------------------------------------------------

    async def _queues_of(self, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
                         ) -> list[str | None]:
        """Each lease's queue: this process's note of it, else PostgreSQL's row."""
        found: list[str | None] = [
            held[0] if (held := self._held.get(lease)) is not None else None
            for _, lease in pairs]
        unknown = [job for (job, _), queue in zip(pairs, found, strict=True) if queue is None]
        if unknown:
            async with connection(self._pool) as conn:
                cur = await conn.execute(STREAM_QUERIES["queue_of"], {"ids": unknown})
                rows = dict(await cur.fetchall())
            found = [q if q is not None else rows.get(job) for (job, _), q in
                     zip(pairs, found, strict=True)]
        return found

    async def _fence(self, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
                     ) -> tuple[list[Held | None], list[str | None]]:
        """Redis's record of each live lease (None: Redis does not vouch for it, and only
        PostgreSQL's record can settle it), and each lease's queue."""
        queues = await self._queues_of(pairs)
        held: list[Held | None] = [None] * len(pairs)
        by_queue: dict[str, list[int]] = defaultdict(list)
        for i, queue in enumerate(queues):
            if queue is not None:
                by_queue[queue].append(i)
        redis_down = not self.state.dispatches
        for queue, indexes in by_queue.items():
            if redis_down:
                break
            try:
                found = await self.index.fence(queue, [pairs[i] for i in indexes])
            except DispatchUnavailable as exc:
                self.state.failed(exc.message)
                redis_down = True
                break
            for i, h in zip(indexes, found, strict=True):
                held[i] = h
        for i, (job, lease) in enumerate(pairs):
            record = self.recorder.find(lease)
            if held[i] is not None or record is None or record.id != job:
                continue
            if redis_down:  # Redis cannot vouch: a lease still queued here for PostgreSQL can
                held[i] = Held(str(job), str(lease), "", record.deadline_ms, record.seq,
                               record.leased_ms, record.worker)
            else:  # Redis says it is gone: only a record already written may settle it
                await self.recorder.disowned(lease)
        return held, queues

    def _settled_leases(self, lease_ids: Sequence[uuid.UUID]) -> None:
        self.recorder.discard(lease_ids)
        for lease_id in lease_ids:
            self._held.pop(lease_id, None)

    def _forget_later(self, items: Sequence[tuple[str, Held]]) -> None:
        items = [(q, h) for q, h in items if h.entry]  # only what Redis itself holds
        if items:
            spawn("quorra-redis-settle", self._forget(items), keep=self._settling)

    async def _forget(self, items: Sequence[tuple[str, Held]]) -> None:
        if not self.state.dispatches:
            return  # XAUTOCLAIM or a rebuild cleans up later
        try:
            await self._forgetter.submit(items)
        except DispatchUnavailable as exc:
            self.state.failed(exc.message)

    async def _forget_batch(self, items: list[tuple[str, Held]]) -> list[None]:
        by_queue: dict[str, list[Held]] = defaultdict(list)
        for queue, held in items:
            by_queue[queue].append(held)
        for queue, group in by_queue.items():
            await self.index.done(queue, group)
        return [None] * len(items)

    async def _missing(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not ids:
            return set()
        async with connection(self._pool) as conn:
            cur = await conn.execute(STREAM_QUERIES["missing"], {"ids": list(ids)})
            return {row[0] for row in await cur.fetchall()}

    # -- ack -----------------------------------------------------------------------------------

    async def ack(self, job_id: uuid.UUID, lease_id: uuid.UUID, result: Any = None) -> Settled:
        raw = None if result is None else msgspec.Raw(_encode(result))
        (outcome,) = await self._acker.submit([_Ack(job_id, lease_id, raw)])
        if isinstance(outcome, QuorraError):
            raise outcome
        return outcome

    async def ack_many(self, acks: Sequence[tuple[uuid.UUID, uuid.UUID, Any]]
                       ) -> list[Settled]:
        if not acks:
            return []
        items = [_Ack(job, lease, None if result is None else msgspec.Raw(_encode(result)))
                 for job, lease, result in acks]
        outcomes = await self._acker.submit(items)
        return [outcome for outcome in outcomes if isinstance(outcome, Settled)]

    async def _ack_batch(self, acks: list[_Ack]) -> list[Settled | QuorraError]:
        """Acks that arrived together: one Redis fence per queue, then one statement per round
        (a job acked twice in one batch: its second ack runs in the next round)."""
        held, queues = await self._fence([(a.id, a.lease_id) for a in acks])
        outcomes: list[Settled | QuorraError] = [LeaseLost()] * len(acks)
        rounds: list[list[int]] = []
        seen: dict[uuid.UUID, int] = defaultdict(int)
        for i, ack in enumerate(acks):
            n = seen[ack.id]
            seen[ack.id] += 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(i)
        for indexes in rounds:
            await self._ack_round(acks, held, indexes, outcomes)
        self._settled_leases([acks[i].lease_id for i, o in enumerate(outcomes)
                              if isinstance(o, Settled)])
        await self.postgres.dependents.unblock([o for o in outcomes if isinstance(o, Settled)])
        self._forget_later([(q, h) for q, h in zip(queues, held, strict=True)
                            if q is not None and h is not None])
        return outcomes

    async def _ack_round(self, acks: Sequence[_Ack], held: Sequence[Held | None],
                         indexes: Sequence[int], outcomes: list[Settled | QuorraError]) -> None:
        rows = []
        for i in indexes:
            h = held[i]
            rows.append(_AckRow(acks[i].id, acks[i].lease_id, None if h is None else h.seq,
                                None if h is None else h.leased_ms,
                                None if h is None else h.worker, acks[i].result))
        async with connection(self._pool) as conn:
            cur = await conn.execute(STREAM_QUERIES["ack"], {"acks": _encode(rows).decode()})
            settled = {row[0]: _settled(row) for row in await cur.fetchall()}
        unknown = await self._missing([acks[i].id for i in indexes if acks[i].id not in settled])
        for i in indexes:
            done = settled.get(acks[i].id)
            outcomes[i] = done if done is not None else (
                JobNotFound() if acks[i].id in unknown else LeaseLost())

    # -- nack, release, extend -------------------------------------------------------------------

    async def nack(self, job_id: uuid.UUID, lease_id: uuid.UUID, error: str, *,
                   retry: bool = True) -> Settled:
        (held,), (queue,) = await self._fence([(job_id, lease_id)])
        params = {"id": job_id, "lease_id": lease_id, "error": error, "retry": retry,
                  "seq": None if held is None else held.seq,
                  "leased_ms": None if held is None else held.leased_ms,
                  "worker": None if held is None else held.worker}
        async with connection(self._pool) as conn:
            cur = await conn.execute(STREAM_QUERIES["nack"], params)
            row = await cur.fetchone()
        if queue is not None and held is not None:
            await self._forget([(queue, held)])  # before a new dispatch of the same job
        if row is None:
            raise JobNotFound() if await self._missing([job_id]) else LeaseLost()
        self._settled_leases([lease_id])
        await self.supervisor.try_dispatch(_redispatch([row]))
        return _settled(row)

    async def release(self, leases: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> list[uuid.UUID]:
        if not leases:
            return []
        held, queues = await self._fence(leases)
        rows = [_LeaseRow(job, lease, None if h is None else h.seq) for (job, lease), h in
                zip(leases, held, strict=True)]
        async with connection(self._pool) as conn:
            cur = await conn.execute(STREAM_QUERIES["release"],
                                     {"leases": _encode(rows).decode()})
            released = await cur.fetchall()
        await self._forget([(q, h) for q, h in zip(queues, held, strict=True)
                            if q is not None and h is not None and h.entry])
        ids = {row[0] for row in released}
        self._settled_leases([lease for job, lease in leases if job in ids])
        await self.supervisor.try_dispatch(_redispatch(released))
        if not self.state.dispatches:  # Postgres-only for now: wake lessees as that mode does
            self.postgres.announce({row[1] for row in released})
        return [row[0] for row in released]

    async def extend(self, job_id: uuid.UUID, lease_id: uuid.UUID, ttl: float) -> datetime:
        (queue,) = await self._queues_of([(job_id, lease_id)])
        held: Held | None = None
        redis_down = not self.state.dispatches
        if queue is not None and not redis_down:
            try:
                (held,) = await self.index.extend(queue, self.supervisor.consumer,
                                                  [(job_id, lease_id, ttl)])
            except DispatchUnavailable as exc:
                self.state.failed(exc.message)
                redis_down = True
        if redis_down:  # a lease of ours PostgreSQL has not recorded yet carries the deadline
            record = self.recorder.find(lease_id)
            deadline_ms = int(time.time() * 1000 + ttl * 1000)
            if record is not None and record.limit_ms is not None:
                deadline_ms = min(deadline_ms, record.limit_ms)  # never past the job's deadline
            if record is not None and record.id == job_id \
                    and self.recorder.moved(lease_id, deadline_ms):
                return from_ms(deadline_ms)
            await self.recorder.written(lease_id)
            return await self.postgres.extend(job_id, lease_id, ttl)
        if held is None:  # Redis does not vouch for it: PostgreSQL's record decides
            await self.recorder.disowned(lease_id)
            return await self.postgres.extend(job_id, lease_id, ttl)
        assert queue is not None
        self._held[lease_id] = (queue, held.deadline_ms)
        if self.recorder.moved(lease_id, held.deadline_ms):
            return from_ms(held.deadline_ms)
        await self.recorder.written(lease_id)
        return await self._extend_recorded(queue, held, job_id, lease_id)

    async def _extend_recorded(self, queue: str, held: Held, job_id: uuid.UUID,
                               lease_id: uuid.UUID) -> datetime:
        row = _LeaseRow(job_id, lease_id, held.seq, deadline_ms=held.deadline_ms)
        async with connection(self._pool) as conn:
            cur = await conn.execute(STREAM_QUERIES["extend"],
                                     {"leases": _encode([row]).decode()})
            live = await cur.fetchall()
        if not live:  # PostgreSQL ended this lease (expired or settled elsewhere)
            self._forget_later([(queue, held)])
            raise JobNotFound() if await self._missing([job_id]) else LeaseLost()
        return from_ms(held.deadline_ms)

    # -- expiry --------------------------------------------------------------------------------

    async def reap_expired(self, limit: int = 500) -> list[Settled]:
        """Leases XAUTOCLAIM found expired in Redis, then recorded leases PostgreSQL's reaper
        found expired (a lease Redis lost): the fences let each count once. XAUTOCLAIM pages
        through each queue's pending list from where the last call stopped, for at most
        ``EXPIRY_SCAN_SECONDS`` a call: a list too long for one call is covered by the next."""
        reaped: list[Settled] = []
        until = time.monotonic() + EXPIRY_SCAN_SECONDS
        if self.state.dispatches:
            for queue in sorted(self._queues):
                try:
                    held, self._expiry_cursors[queue] = await self.index.expired(
                        queue, self.supervisor.consumer,
                        cursor=self._expiry_cursors.get(queue, "0-0"), until=until)
                except DispatchUnavailable as exc:
                    self.state.failed(exc.message)
                    break
                if held:
                    reaped += await self._expire(queue, held)
        reaped += await super().reap_expired(limit)
        self._prune_held()
        return reaped

    async def _expire(self, queue: str, held: Sequence[Held]) -> list[Settled]:
        rows = [_LeaseRow(uuid.UUID(h.job_id), uuid.UUID(h.lease_id), h.seq, h.leased_ms,
                          h.worker, h.deadline_ms) for h in held]
        async with connection(self._pool) as conn:
            cur = await conn.execute(STREAM_QUERIES["expire"], {"leases": _encode(rows).decode()})
            expired = await cur.fetchall()
        done = {row[0] for row in expired}
        self._settled_leases([r.lease_id for r in rows if r.id in done])
        # Those PostgreSQL did not expire were settled otherwise (or are being, by whoever holds
        # their row): Redis forgets every one, or XAUTOCLAIM would find them again each pass.
        await self._forget([(queue, h) for h in held])
        await self.supervisor.try_dispatch(_redispatch(expired))
        self.redis_expired += len(expired)
        if expired:
            self.on_expired(queue, len(expired))
        return [_settled(row, timed_out=row[13] == TIMED_OUT) for row in expired]

    def _prune_held(self) -> None:
        cutoff = time.time() * 1000 - _HELD_GRACE_MS
        for lease_id in [k for k, (_, deadline) in self._held.items() if deadline < cutoff]:
            del self._held[lease_id]

    async def reclaim(self) -> int:
        """The 5 s chore: learn every queue XAUTOCLAIM must watch (leases of other servers
        too), and drop consumers of dead servers."""
        async with connection(self._pool) as conn:
            cur = await conn.execute(STREAM_QUERIES["queues"])
            self._queues |= {row[0] for row in await cur.fetchall()}
        if not self.state.dispatches:
            return 0
        try:
            for queue in sorted(self._queues):
                await self.index.forget_consumers(queue, self.supervisor.consumer, 3_600_000)
        except DispatchUnavailable as exc:
            self.state.failed(exc.message)
        return 0

    # -- operator actions ----------------------------------------------------------------------

    async def _drop_cancelled(self, rows: Sequence[CancelRow]
                              ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """A stream lease has no grant to refuse a stale proposal: the proposal, body and
        lease of a cancelled job must leave Redis. When Redis cannot be reached now, they are
        dropped before any later stream lease (with the proposals of PostgreSQL's leases)."""
        voided: list[tuple[uuid.UUID, uuid.UUID]] = []
        try:
            if not self.state.dispatches:
                raise DispatchUnavailable("Redis is not dispatching")
            voided = await self._redis_cancel(rows)
        except DispatchUnavailable as exc:
            if self.state.dispatches:
                self.state.failed(exc.message)
            self.supervisor.leased_from_postgres((r.cancelled.queue, r.cancelled.id)
                                                 for r in rows)
        lease_ids = [lease for _, lease in voided]
        lease_ids += [r.cancelled.lease_id for r in rows if r.cancelled.lease_id is not None]
        self._settled_leases(lease_ids)  # never recorded late; heartbeats now refused
        return voided

    async def set_limits(self, queue: str, limits: QueueLimits) -> None:
        """Limits live in Postgres and are enforced where leases are made: in Redis
        (``stream_lease.lua``), mirrored now and by every repair sweep."""
        await self.postgres.set_limits(queue, limits)
        if self.state.dispatches:
            try:
                await self.index.set_limits(queue, limits)
            except DispatchUnavailable as exc:
                self.state.failed(exc.message)
        self._wakeups.wake((queue,))

    async def delete(self, job_id: uuid.UUID) -> None:
        await self.recorder.flush()  # a lease of ours is then known: a leased job is refused
        (queue,) = await self._queues_of([(job_id, uuid.UUID(int=0))])
        await self.postgres.delete(job_id)
        if queue is not None and self.state.dispatches:
            try:
                await self.index.forget(queue, [job_id])
            except DispatchUnavailable as exc:
                self.state.failed(exc.message)
