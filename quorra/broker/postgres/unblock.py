"""After a commit, making dependents leasable at once: jobs a parent's success made pending
(``0007_dependencies.sql``'s trigger) and pending jobs whose priority an enqueue raised are
woken here and, by NOTIFY, on every replica, proposed in Redis modes, and counted."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

from quorra.broker.base import Settled
from quorra.broker.postgres.dependent import Raised
from quorra.broker.postgres.waker import Waker
from quorra.core.errors import QuorraError
from quorra.core.jobs import JobStatus
from quorra.db.pool import Pool, connection
from quorra.db.sqlfiles import load_queries

__all__ = ["Dependents", "Propose", "Reprioritize", "Unblocked"]

log = logging.getLogger(__name__)
DEPS = load_queries("quorra.broker.postgres", "dependencies.sql")

Propose = Callable[[Sequence[uuid.UUID]], Awaitable[None]]
Reprioritize = Callable[[Sequence[Raised]], Awaitable[None]]
Unblocked = Callable[[Sequence[tuple[uuid.UUID, str]]], None]


class Dependents:
    def __init__(self, pool: Pool, waker: Waker) -> None:
        self._pool = pool
        self._waker = waker
        self._propose: Propose | None = None
        self._reprioritize: Reprioritize | None = None
        self._hooks: list[Unblocked] = []

    def propose_with(self, propose: Propose, reprioritize: Reprioritize) -> None:
        """``propose(ids)`` after a commit that made jobs pending outside an insert (a parent's
        success unblocked them), ``reprioritize(raised)`` after one that raised pending jobs'
        priorities: the Redis brokers' dispatch, so those jobs are leasable at once, in their
        new order."""
        self._propose = propose
        self._reprioritize = reprioritize

    def on_unblocked(self, hook: Unblocked) -> None:
        """``hook([(job_id, queue), ...])`` for the jobs a parent's success made pending here
        (metrics)."""
        self._hooks.append(hook)

    async def raised(self, raised: Sequence[Raised]) -> None:
        if raised and self._reprioritize is not None:
            await self._reprioritize(raised)

    async def unblock(self, settled: Sequence[Settled]) -> None:
        """After outcomes committed: the dependents that succeeded parents made pending. Best
        effort: the outcome stands; a job missed here is found by the lease poll (or the Redis
        repair sweep)."""
        parents = [s.id for s in settled if s.parent and s.status is JobStatus.SUCCEEDED]
        if not parents:
            return
        try:
            async with connection(self._pool) as conn:
                cur = await conn.execute(DEPS["unblocked"], {"ids": parents})
                rows: list[tuple[uuid.UUID, str]] = await cur.fetchall()
            if rows:
                self._waker.announce({queue for _, queue in rows})
                if self._propose is not None:
                    await self._propose([job for job, _ in rows])
        except QuorraError as exc:
            log.warning("waking the dependents of %d jobs failed: %s", len(parents),
                        exc.message)
            return
        for hook in self._hooks:
            hook(rows)
