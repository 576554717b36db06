"""Keeps the Redis index honest: health probes and mode switching, full rebuilds from Postgres,
the repair sweep, reclaiming proposals of dead servers, and pub/sub wake-ups."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from quorra.broker.redis.index import Entry, Identity, RedisIndex
from quorra.broker.redis.mode import ModeState
from quorra.broker.wakeups import Wakeups
from quorra.core.errors import DispatchUnavailable, LeaseModeConflict, QuorraError
from quorra.core.tasks import spawn, supervise
from quorra.db.pool import Pool, connection
from quorra.db.sqlfiles import load_queries

__all__ = ["Supervisor", "entries_from_rows"]

log = logging.getLogger(__name__)

QUERIES = load_queries("quorra.broker.redis")
_PAGE = 1000
SWEEP_SHARE = 0.05  # the most of the server's time the periodic repair sweep may take
_MAX_PAGES = 100_000
_CLOSE_TIMEOUT = 2.0


def entries_from_rows(rows: Iterable[tuple[Any, ...]]) -> list[Entry]:
    return [Entry(job_id=r[0], queue=r[1], seq=r[2], priority=r[3], run_at=r[4]) for r in rows]


class Supervisor:
    def __init__(self, index: RedisIndex, pool: Pool, state: ModeState, wakeups: Wakeups, *,
                 consumer: str, probe_interval: float = 0.25, reclaim_idle: float = 15.0,
                 sweep_age: float = 10.0, probe_timeout: float = 1.0,
                 consumer_idle: float = 3600.0) -> None:
        self.index = index
        self.state = state
        self.consumer = consumer
        self._pool = pool
        self._wakeups = wakeups
        self._probe_interval = probe_interval
        self._probe_timeout = probe_timeout
        self._reclaim_idle_ms = int(reclaim_idle * 1000)
        self._consumer_idle_ms = int(consumer_idle * 1000)
        self._sweep_age = sweep_age
        self._tasks: list[asyncio.Task[None]] = []
        self._resume_sweeps: dict[str, asyncio.Task[None]] = {}  # queue -> its sweep after resume
        self._sweep_again: set[str] = set()  # resumed again while its sweep ran
        self._lock = asyncio.Lock()
        self.stale_discarded = 0
        self._next_sweep = -math.inf  # the repair sweep's next turn (monotonic seconds)
        # queues whose jobs Redis does not hold (grant mode: limited queues lease from Postgres)
        self.unproposed: Callable[[Iterable[str]], set[str]] = lambda queues: set()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.check()
        self._tasks = [supervise("quorra-redis-monitor", self._monitor),
                       supervise("quorra-redis-listener", self._listen)]

    async def close(self) -> None:
        """Cancel the background tasks; a task stuck in a client's cleanup is not waited for
        beyond a bound (shutdown must not hang on Redis)."""
        tasks = [*self._tasks, *self._resume_sweeps.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT)

    # -- dispatch ------------------------------------------------------------------------------

    async def dispatch(self, entries: Sequence[Entry]) -> None:
        """Propose ``entries`` in Redis (idempotent per (job, seq)) and wake local lessees."""
        by_queue: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            by_queue[entry.queue].append(entry)
        skipped = self.unproposed(by_queue)
        for queue, group in by_queue.items():
            if queue not in skipped:
                await self.index.dispatch(queue, group)
        self._wakeups.wake(by_queue)

    async def try_dispatch(self, entries: Sequence[Entry]) -> None:
        """Dispatch when Redis is in use; a failure only delays the jobs (repair sweep)."""
        if not entries or not self.state.dispatches:
            return
        try:
            await self.dispatch(entries)
        except DispatchUnavailable as exc:
            self.state.failed(exc.message)

    async def dispatch_ids(self, ids: Sequence[uuid.UUID]) -> None:
        """Dispatch jobs that just became pending again (nack, reaped lease)."""
        if not ids or not self.state.dispatches:
            return
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["dispatch_rows"], {"ids": list(ids)})
            rows = await cur.fetchall()
        await self.try_dispatch(entries_from_rows(rows))

    # -- repair --------------------------------------------------------------------------------

    async def sweep(self, *, age: float, queue: str | None = None) -> int:
        """Propose every pending job older than ``age`` seconds (or every pending job of
        ``queue``) that Redis lacks."""
        after, total = uuid.UUID(int=0), 0
        query = QUERIES["sweep_page"] if queue is None else QUERIES["sweep_queue_page"]
        for _ in range(_MAX_PAGES):
            async with connection(self._pool) as conn:
                cur = await conn.execute(query, {"after": after, "age": age, "queue": queue,
                                                 "limit": _PAGE})
                rows = await cur.fetchall()
            if not rows:
                break
            total += await self._propose_page(entries_from_rows(rows))
            after = rows[-1][0]
            if len(rows) < _PAGE:
                break
        return total

    async def _propose_page(self, entries: Sequence[Entry]) -> int:
        """Propose one page of the sweep (``dispatch.lua`` skips what Redis holds)."""
        await self.dispatch(entries)
        return len(entries)

    async def mirror_paused(self) -> None:
        """Copy every queue's pause flag from Postgres into Redis (rebuild and repair sweep: a
        flag lost with Redis, or not written while it failed, is restored here)."""
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["queue_states"])
            rows = await cur.fetchall()
        for queue, paused in rows:
            await self.index.set_paused(queue, paused, wake=False)
        await self.mirror_limits()

    async def mirror_limits(self) -> None:
        """Copy queue limits into Redis, where the lease path enforces them (stream leases
        only: grant mode leases limited queues from Postgres)."""

    async def set_paused(self, queue: str, paused: bool) -> None:
        """Mirror one pause or resume now (Postgres has it already); a failure leaves it to the
        next repair sweep or rebuild, and the grant refuses paused jobs meanwhile. A resume
        then proposes the queue's pending jobs again in the background: a proposal the grant
        refused while the pause had not reached Redis was dropped. The proposals Redis holds
        are leasable at once; a large backlog's sweep must not hold the resume's request."""
        if not self.state.dispatches:
            return
        try:
            await self.index.set_paused(queue, paused)
        except DispatchUnavailable as exc:
            self.state.failed(exc.message)
            return
        if not paused:
            self._sweep_resumed(queue)

    def _sweep_resumed(self, queue: str) -> None:
        """One background sweep per queue; a resume while it runs sweeps once more after it."""
        running = self._resume_sweeps.get(queue)
        if running is not None and not running.done():
            self._sweep_again.add(queue)
            return
        task = spawn("quorra-redis-resume-sweep", self._resume_sweep(queue))
        self._resume_sweeps[queue] = task
        task.add_done_callback(lambda done: self._sweep_ended(queue, done))

    def _sweep_ended(self, queue: str, task: asyncio.Task[None]) -> None:
        if self._resume_sweeps.get(queue) is task:
            del self._resume_sweeps[queue]

    async def _resume_sweep(self, queue: str) -> None:
        while True:
            self._sweep_again.discard(queue)
            try:
                swept = await self.sweep(age=0, queue=queue)
            except DispatchUnavailable as exc:
                self.state.failed(exc.message)
                return
            except QuorraError as exc:  # PostgreSQL unavailable: the repair sweep comes later
                log.warning("sweep of resumed queue %s postponed: %s", queue, exc)
                return
            log.debug("resumed queue %s: %d pending jobs proposed", queue, swept)
            if queue not in self._sweep_again:
                return

    async def resume_sweeps(self) -> None:
        """Wait for the sweeps of resumed queues running now (tests)."""
        for _ in range(100):  # bounded: a resume during the wait starts at most one more
            if not self._resume_sweeps:
                return
            await asyncio.wait(set(self._resume_sweeps.values()))

    async def repair(self) -> int:
        """The periodic repair sweep (housekeeping): only while Redis is the lease path. It
        reads every pending job, so with a large backlog it runs less often: its time stays
        under ``SWEEP_SHARE`` of the server's (a 1 s sweep waits 19 s for the next one)."""
        if not self.state.leases_from_redis:
            return 0
        started = time.monotonic()
        try:
            await self.mirror_paused()
            if started < self._next_sweep:
                return 0
            return await self.sweep(age=self._sweep_age)
        except DispatchUnavailable as exc:
            self.state.failed(exc.message)
            return 0
        finally:
            spent = time.monotonic() - started
            self._next_sweep = max(self._next_sweep, started + spent / SWEEP_SHARE - spent)

    async def reclaim(self) -> int:
        """Return proposals idle in any consumer's pending list to their ready sets, then drop
        consumers of dead servers (empty and idle for ``consumer_idle``)."""
        if not self.state.dispatches:
            return 0
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["pending_queues"])
            queues = [row[0] for row in await cur.fetchall()]
        total = 0
        try:
            for queue in queues:
                total += await self.index.reclaim(queue, self.consumer, self._reclaim_idle_ms)
                await self.index.forget_consumers(queue, self.consumer, self._consumer_idle_ms)
        except DispatchUnavailable as exc:
            self.state.failed(exc.message)
        if total:
            log.info("reclaimed %d unsettled Redis proposals", total)
            self._wakeups.wake(None)
        return total

    # -- health and rebuild ----------------------------------------------------------------------

    async def check(self) -> None:
        """One health probe; starts a full rebuild when the mode or the dataset calls for it."""
        async with self._lock:
            try:
                async with asyncio.timeout(self._probe_timeout):
                    identity = await self.index.identity()
            except (DispatchUnavailable, TimeoutError) as exc:
                self.state.failed(getattr(exc, "message", "probe timed out"))
                return
            if self.state.probed(identity):
                await self._rebuild()

    async def _rebuild(self) -> None:
        try:
            await self.index.init()  # first: a dataset of the other lease mode is never touched
        except LeaseModeConflict as exc:
            self.state.refused(exc.message)
            return
        except DispatchUnavailable as exc:
            self.state.failed(exc.message)
            return
        self.state.rebuilding()
        try:
            identity = await self.index.identity()
            await self.mirror_paused()
            swept = await self.sweep(age=0)
        except DispatchUnavailable as exc:
            self.state.failed(exc.message)
            return
        except QuorraError as exc:  # Postgres unavailable: stay out of Redis mode, retry later
            log.warning("rebuild postponed: %s", exc)
            return
        log.info("full sweep proposed %d pending jobs", swept)
        self.state.rebuilt(identity)
        self._wakeups.wake(None)

    async def _monitor(self) -> None:
        while True:  # a failure is logged and the monitor restarted (supervise)
            await asyncio.sleep(self._probe_interval)
            await self.check()

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                async with self.index.subscription() as pubsub:
                    delay = 0.1
                    self._wakeups.wake(None)
                    while True:
                        queue = await self.index.next_message(pubsub, 1.0)
                        if queue is not None:
                            self._wakeups.wake((queue,))
            except DispatchUnavailable as exc:  # Redis away: the monitor switches modes
                log.debug("wake-up subscription lost: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def identity(self) -> Identity | None:
        return self.state.identity
