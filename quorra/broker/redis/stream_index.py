"""The Redis side of stream leases: typed wrappers around the ``lua/stream_*.lua`` scripts.

In this mode a queue's stream consumer group is the lease table: a lease is an entry in the
group's pending-entries list plus a record in the queue's ``leases`` hash (lease id, entry,
deadline, seq, worker); the job bodies a lease hands out wait in the ``bodies`` hash from
dispatch until the outcome is settled. See ``docs/redis-keys.md``.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from quorra.broker.redis.client import is_cluster
from quorra.broker.redis.index import Entry, RedisIndex, translate
from quorra.broker.redis.keys import GROUP, WAKE_CHANNEL, queue_keys
from quorra.core.jobs import LEASE_TTL_MAX, Job, JobStatus
from quorra.core.limits import QueueLimits

__all__ = ["HORIZON_MS", "BodyEntry", "Held", "StreamIndex", "StreamLease", "encode_body",
           "from_ms", "timeout_ms"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_STREAM_SCRIPTS = ("stream_dispatch", "stream_lease", "stream_fence", "stream_extend",
                   "stream_done", "stream_expire", "stream_forget", "stream_rescore")
# Every delivered entry's idle time is set so that it reaches HORIZON_MS at its deadline: one
# XAUTOCLAIM min-idle then finds expired leases of any TTL (TTLs are at most LEASE_TTL_MAX).
HORIZON_MS = int(LEASE_TTL_MAX * 1000)
# XAUTOCLAIM's COUNT per expiry page: it looks at up to ten times as many pending entries
EXPIRY_PAGE = 200


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _from_us(us: int) -> datetime:
    return _EPOCH + us * _MICROSECOND


def _us(when: datetime) -> int:
    return (when - _EPOCH) // _MICROSECOND


class _BodyOut(msgspec.Struct, array_like=True):
    type: str
    payload: msgspec.Raw
    priority: int
    attempts: int
    max_retries: int
    run_at_us: int
    created_at_us: int
    last_error: str | None
    traceparent: str | None
    timeout_ms: int  # 0: no time limit; last, so the scripts find it at the body's end


class _BodyIn(msgspec.Struct, array_like=True):
    type: str
    payload: Any
    priority: int
    attempts: int
    max_retries: int
    run_at_us: int
    created_at_us: int
    last_error: str | None
    # The producer's traceparent; in a body dispatched before traces, the time limit is here
    # (an int) and timeout_ms stays 0: see ``_trace_and_timeout``.
    traceparent: str | int | None = None
    timeout_ms: int = 0  # bodies dispatched before time limits have none


class _Leased(msgspec.Struct, array_like=True):
    job: uuid.UUID
    seq: int
    lease: uuid.UUID
    entry: str
    body: _BodyIn
    deadline_ms: int  # this lease's: now + ttl, cut to the job's deadline


_encode = msgspec.json.Encoder().encode
_decode_leased = msgspec.json.Decoder(list[_Leased]).decode


def encode_body(*, type_: str, payload: bytes, priority: int, attempts: int, max_retries: int,
                run_at: datetime, created_at: datetime, last_error: str | None,
                timeout: float | None = None, traceparent: str | None = None) -> str:
    """What a lease hands a worker, as stored in the ``bodies`` hash (``payload`` is JSON).
    The job's time limit comes last, in ms (0: none): ``stream_lease.lua`` and
    ``stream_extend.lua`` read it there to cut leases at the job's deadline."""
    return _encode(_BodyOut(type_, msgspec.Raw(payload), priority, attempts, max_retries,
                            _us(run_at), _us(created_at), last_error, traceparent,
                            timeout_ms(timeout))).decode()


def timeout_ms(timeout: float | None) -> int:
    """A job's time limit in whole milliseconds as the scripts use it (0: none)."""
    return 0 if timeout is None else max(round(timeout * 1000), 1)


@dataclasses.dataclass(frozen=True, slots=True)
class BodyEntry(Entry):
    """A pending job to propose, with the body its lease will hand out."""

    body: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class StreamLease:
    """A lease made in Redis, not yet known to PostgreSQL."""

    job: Job
    seq: int
    entry: str
    leased_ms: int
    deadline_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class Held:
    """A lease record as ``leases`` holds it: ``lease|entry|deadline_ms|seq|leased_ms|worker``."""

    job_id: str
    lease_id: str
    entry: str
    deadline_ms: int
    seq: int
    leased_ms: int
    worker: str

    @classmethod
    def parse(cls, job_id: str, record: str) -> Held:
        lease, entry, deadline, seq, leased, worker = record.split("|", 5)
        return cls(job_id, lease, entry, int(deadline), int(seq), int(leased), worker)


def _trace_and_timeout(body: _BodyIn) -> tuple[str | None, int]:
    """A body's traceparent and time limit (ms); a body of the release before traces holds
    its time limit where the traceparent is now."""
    if isinstance(body.traceparent, int):
        return None, body.traceparent
    return body.traceparent, body.timeout_ms


def _job(leased: _Leased, worker: str, leased_at: datetime, queue: str) -> Job:
    b = leased.body
    traceparent, limit_ms = _trace_and_timeout(b)
    return Job(id=leased.job, type=b.type, payload=b.payload, queue=queue,
               priority=b.priority, status=JobStatus.LEASED, attempts=b.attempts + 1,
               max_retries=b.max_retries, last_error=b.last_error, result=None,
               run_at=_from_us(b.run_at_us), created_at=_from_us(b.created_at_us),
               updated_at=leased_at, lease_id=leased.lease, leased_at=leased_at,
               leased_by=worker, lease_expires_at=from_ms(leased.deadline_ms),
               timeout_seconds=limit_ms / 1000 if limit_ms else None, traceparent=traceparent)


class StreamIndex(RedisIndex):
    """The dispatch index plus the stream-lease scripts."""

    LEASE_MODE = "stream"  # leases live in the queues' consumer groups

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._load(_STREAM_SCRIPTS)

    async def dispatch(self, queue: str, entries: Sequence[Entry]) -> int:
        keys = queue_keys(queue)
        args: list[Any] = [WAKE_CHANNEL, queue]
        for entry in entries:
            body = entry.body if isinstance(entry, BodyEntry) else ""
            if body:  # an entry without its body cannot be leased here: the sweep brings it
                args.extend((*entry.args(), body))
        if len(args) == 2:
            return 0
        return int(await self._run("stream_dispatch",
                                   [keys.ready, keys.delayed, keys.idx, keys.bodies], args))

    async def rescore(self, entries: Sequence[Entry], old: dict[uuid.UUID, int]) -> int:
        """Give proposals a new priority in place (``stream_rescore.lua``): same seq, new
        body; ``old[job]`` is the priority each was proposed with. Returns how many moved."""
        moved = 0
        for entry in entries:
            if not isinstance(entry, BodyEntry) or entry.job_id not in old:
                continue
            keys = queue_keys(entry.queue)
            job, seq, priority, _, member = entry.args()
            args = [job, seq, old[entry.job_id], priority, member, entry.body]
            moved += int(await self._run("stream_rescore",
                                         [keys.ready, keys.delayed, keys.idx, keys.bodies],
                                         args))
        return moved

    async def known(self, queue: str, entries: Sequence[Entry]) -> list[bool]:
        """Whether Redis already holds each entry's (job, seq) or a newer one."""
        with translate():
            seqs = await self.client.hmget(queue_keys(queue).idx,
                                           [str(e.job_id) for e in entries])
        return [s is not None and int(s) >= e.seq for s, e in zip(seqs, entries, strict=True)]

    async def lease(self, queue: str, consumer: str, want: int,  # type: ignore[override]
                    promote: int = 256, *, ttl: float = 30.0,
                    worker: str = "") -> tuple[int, list[StreamLease]]:
        """``(wait_ms, leases)``: see ``lua/stream_lease.lua``."""
        keys = queue_keys(queue)
        reply = await self._run(
            "stream_lease",
            [keys.ready, keys.delayed, keys.stream, keys.idx, keys.bodies, keys.leases,
             keys.paused, keys.limits, keys.rate],
            [GROUP, consumer, want, promote, round(ttl * 1000), HORIZON_MS, worker,
             secrets.token_hex(12)])
        now_ms = int(reply[1])
        leased_at = from_ms(now_ms)
        leases = [StreamLease(job=_job(one, worker, leased_at, queue), seq=one.seq,
                              entry=one.entry, leased_ms=now_ms, deadline_ms=one.deadline_ms)
                  for one in _decode_leased(reply[3])]
        return int(reply[0]), leases

    async def set_limits(self, queue: str, limits: QueueLimits, *, fresh: bool = True) -> None:
        """Mirror a queue's limits (``lua/stream_lease.lua`` enforces them). A change starts a
        fresh rate window and wakes lessees on every server; with ``fresh`` false (the repair
        sweep's mirror) limits Redis already holds are left alone."""
        keys = queue_keys(queue)
        fields = _limit_fields(limits)
        with translate():
            if not fresh and await self.client.hgetall(keys.limits) == fields:
                return
            # On a cluster a transaction may hold only commands of one slot: PUBLISH (no key)
            # follows it there instead of riding in it.
            cluster = is_cluster(self.client)
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(keys.limits, keys.rate)
                if fields:
                    pipe.hset(keys.limits, mapping=dict(fields))  # type: ignore[arg-type]
                if not cluster:
                    pipe.publish(WAKE_CHANNEL, queue)
                await pipe.execute()
            if cluster:
                await self.client.publish(WAKE_CHANNEL, queue)

    async def fence(self, queue: str, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
                    ) -> list[Held | None]:
        """The Redis lease record behind each ``(job, lease)``, or None when it is not live."""
        if not pairs:
            return []
        arg = " ".join([f"{job} {lease}" for job, lease in pairs])
        reply = await self._run("stream_fence", [queue_keys(queue).leases], [arg])
        return [Held.parse(str(job), rec) if rec else None
                for (job, _), rec in zip(pairs, reply, strict=True)]

    async def extend(self, queue: str, consumer: str,
                     items: Sequence[tuple[uuid.UUID, uuid.UUID, float]]) -> list[Held | None]:
        keys = queue_keys(queue)
        args: list[Any] = [GROUP, consumer, HORIZON_MS]
        for job, lease, ttl in items:
            args.extend((str(job), str(lease), round(ttl * 1000)))
        reply = await self._run("stream_extend", [keys.stream, keys.leases, keys.bodies], args)
        return [Held.parse(str(item[0]), rec) if rec else None
                for item, rec in zip(items, reply, strict=True)]

    async def done(self, queue: str, held: Sequence[Held]) -> int:
        """Forget leases PostgreSQL decided (see ``lua/stream_done.lua``)."""
        if not held:
            return 0
        keys = queue_keys(queue)
        arg = " ".join([f"{h.job_id} {h.lease_id} {h.entry or '-'} {h.seq}" for h in held])
        return int(await self._run("stream_done",
                                   [keys.stream, keys.leases, keys.idx, keys.bodies, keys.limits],
                                   [GROUP, arg, WAKE_CHANNEL, queue]))

    async def expired(self, queue: str, consumer: str, *, cursor: str = "0-0",
                      until: float | None = None, count: int = EXPIRY_PAGE,
                      max_pages: int = 1000) -> tuple[list[Held], str]:
        """Expired leases of ``queue``, claimed with XAUTOCLAIM (``lua/stream_expire.lua``),
        paging through the pending list from ``cursor``: to its end, or until the monotonic
        time ``until`` when a page ends past it (at least one page, at most ``max_pages``).
        Returns them and the cursor to go on from ("0-0": the pass reached the end)."""
        keys = queue_keys(queue)
        found: list[Held] = []
        for _ in range(max_pages):
            reply = await self._run("stream_expire", [keys.stream, keys.leases],
                                    [GROUP, consumer, HORIZON_MS, cursor, count])
            cursor = str(reply[0])
            for i in range(1, len(reply), 7):
                job, lease, entry, seq, leased, worker, deadline = reply[i : i + 7]
                found.append(Held(job, lease, entry, int(deadline), int(seq), int(leased),
                                  worker))
            if cursor == "0-0" or (until is not None and time.monotonic() >= until):
                break
        return found, cursor

    async def forget(self, queue: str, job_ids: Sequence[uuid.UUID]) -> None:
        keys = queue_keys(queue)
        await self._run("stream_forget", [keys.idx, keys.bodies], [str(j) for j in job_ids])


def _limit_fields(limits: QueueLimits) -> dict[str, str]:
    """The ``limits`` hash of a queue (strings, as Redis returns them)."""
    period = None if limits.rate_period is None else max(1, round(limits.rate_period * 1000))
    return {name: str(value) for name, value in (
        ("c", limits.max_concurrency), ("r", limits.rate_limit), ("p", period))
        if value is not None}
