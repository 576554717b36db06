"""Leasing for open streams, through one ``LeaseTurns`` per server.

It keeps one wake-up watcher per set of queues (however many streams lease from
it): it waits on the service's wake-up (enqueues and releases in this process at once, other
replicas through LISTEN/NOTIFY, a bounded polling backup for delays and lost notifications) and
hands the turn to the longest-waiting stream only. That stream leases; when it filled its whole
request there may be more, and it passes the turn on. So an enqueue costs one lease query, not
one per waiting stream, and an idle server polls once per backup interval per queue set. No
sleep loop: idle streams await futures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime

from quorra.core.errors import Unavailable
from quorra.core.jobs import Job
from quorra.core.tasks import Backoff, supervise
from quorra.service import JobService

__all__ = ["Feed", "LeaseTurns", "Window", "first_of"]

log = logging.getLogger(__name__)

IDLE_WAIT = 30.0  # the service bounds it further (its polling backup)


async def first_of(*waits: Awaitable[object], timeout: float | None = None) -> None:
    """Return when the first of ``waits`` finishes (or after ``timeout``); cancel the rest."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class _Group:
    """The streams leasing from one set of queues."""

    def __init__(self, queues: Sequence[str]) -> None:
        self.queues = list(queues)
        self.generation = 0  # bumped on every wake-up: a stream that saw a change looks again
        self.members = 0
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.watcher: asyncio.Task[None] | None = None

    def bump(self) -> None:
        """Something may be ready: give the turn to the longest-waiting stream."""
        self.generation += 1
        while self.waiters:
            turn = self.waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return


class LeaseTurns:
    """One wake-up watcher per set of queues; each wake-up is the lease turn of the stream that
    waited longest (see the module's docstring)."""

    def __init__(self, service: JobService) -> None:
        self.service = service
        self._groups: dict[frozenset[str], _Group] = {}

    def join(self, queues: Sequence[str]) -> _Group:
        key = frozenset(queues)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(sorted(key))
        group.members += 1
        if group.watcher is None or group.watcher.done():
            group.watcher = supervise("quorra-dispatch", lambda: self._watch(group), first=0.5)
        return group

    def leave(self, group: _Group) -> None:
        group.members -= 1
        if group.members <= 0:
            self._groups.pop(frozenset(group.queues), None)
            if group.watcher is not None:
                group.watcher.cancel()

    async def _watch(self, group: _Group) -> None:
        while group.members > 0:
            try:
                # awaited directly: the next wait registers before anything else runs
                await self.service.wait_for_jobs(group.queues, IDLE_WAIT)
            finally:  # a failed wait too: streams look again while the watcher restarts
                group.bump()


class Feed:
    """Leases jobs of some queues for one worker; ``take`` waits until at least one is ready
    or one of the ``stops`` events is set (then it returns ``[]``)."""

    def __init__(self, service: JobService, queues: Sequence[str], *, worker_id: str,
                 ttl: float, stops: Iterable[asyncio.Event],
                 turns: LeaseTurns | None = None) -> None:
        self.service = service
        self.queues = list(queues)
        self.worker_id = worker_id
        self.ttl = ttl
        self.stops = list(stops)
        self.turns = turns or LeaseTurns(service)
        self._group: _Group | None = None

    def stopped(self) -> bool:
        return any(stop.is_set() for stop in self.stops)

    def close(self) -> None:
        if self._group is not None:
            self.turns.leave(self._group)
            self._group = None

    async def take(self, limit: int) -> list[Job]:
        if self._group is None:
            self._group = self.turns.join(self.queues)
        group = self._group
        backoff = Backoff(first=0.1, cap=2.0)
        while not self.stopped():
            seen = group.generation
            try:
                jobs = await self.service.lease(self.queues, worker_id=self.worker_id,
                                                limit=limit, ttl=self.ttl)
            except Unavailable as exc:  # a store restart: wait it out, never give up
                await self._pause(backoff.next(), exc)
                continue
            backoff.reset()
            if jobs:
                if len(jobs) >= limit:
                    group.bump()  # there may be more: let the next stream look
                return jobs
            if group.generation != seen:
                continue  # woken while we looked: look again
            handed = await self._idle(group, limit)
            if handed:
                return handed
        return []

    async def _idle(self, group: _Group, limit: int) -> list[Job]:
        """Wait for the turn, a stop, or jobs handed over at their insert (then return them)."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        group.waiters.append(turn)
        offer = self.service.post_offer(self.queues, worker_id=self.worker_id, limit=limit,
                                        ttl=self.ttl)
        if offer is None:
            await first_of(turn, *(stop.wait() for stop in self.stops))
            return []
        try:
            await first_of(turn, asyncio.shield(offer.jobs), *(stop.wait() for stop in self.stops))
            if offer.claimed and not self.stopped():  # its insert is in flight: answered at commit
                await first_of(asyncio.shield(offer.jobs), *(stop.wait() for stop in self.stops))
        finally:
            handed = self.service.withdraw_offer(offer)
        return handed

    async def _pause(self, delay: float, exc: Unavailable) -> None:
        log.warning("leasing for %s failed (%s); retrying in %.1fs", self.worker_id,
                    exc.message, delay)
        await first_of(*(stop.wait() for stop in self.stops), timeout=delay)

    async def give_back(self, jobs: Sequence[Job]) -> None:
        """Release jobs that were leased but never delivered (not a failed attempt)."""
        leases = [(job.id, job.lease_id) for job in jobs if job.lease_id is not None]
        if not leases:
            return
        try:
            await asyncio.shield(self.service.release(leases))
        except Unavailable as exc:  # their leases expire and the jobs are retried
            log.warning("releasing %d undelivered jobs failed (%s)", len(leases), exc.message)


class Window:
    """The in-flight jobs of one follow-mode ``LeaseJobs`` stream: a slot frees when the job is
    settled (through any call) or its lease deadline passes."""

    def __init__(self, size: int, on_expiry: Callable[[uuid.UUID], object] | None = None) -> None:
        self.size = size
        self.deadlines: dict[uuid.UUID, float] = {}
        self.changed = asyncio.Event()
        self.on_expiry = on_expiry  # told of each lease that expired unsettled

    def credit(self) -> int:
        now = time.monotonic()
        for lease_id in [k for k, deadline in self.deadlines.items() if deadline <= now]:
            del self.deadlines[lease_id]
            if self.on_expiry is not None:
                self.on_expiry(lease_id)
        return self.size - len(self.deadlines)

    def add(self, job: Job) -> None:
        if job.lease_id is not None and job.lease_expires_at is not None:
            self.deadlines[job.lease_id] = _monotonic(job.lease_expires_at)

    def extend(self, lease_id: uuid.UUID, deadline: datetime) -> None:
        if lease_id in self.deadlines:
            self.deadlines[lease_id] = _monotonic(deadline)

    def settle(self, lease_id: uuid.UUID) -> None:
        if self.deadlines.pop(lease_id, None) is not None:
            self.changed.set()

    def seconds_to_next_expiry(self) -> float | None:
        if not self.deadlines:
            return None
        return max(min(self.deadlines.values()) - time.monotonic(), 0.0)


def _monotonic(deadline: datetime) -> float:
    return time.monotonic() + (deadline - datetime.now(UTC)).total_seconds()
