"""Per-job stage timestamps inside ``quorra-server`` (installed by ``variant_server.py
--stamps``): wall-clock marks when a job's insert batch committed, when it was proposed in
Redis, when its grant (or Postgres lease) started and returned, and when it was handed to the
gRPC stream. Written as JSON to ``$QUORRA_BENCH_STAMPS`` at exit. Wraps private methods on
purpose: it measures the shipped code paths, and bench/stages.py fails loudly if they move.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

from quorra.broker.postgres.broker import PostgresBroker
from quorra.broker.redis.broker import RedisBroker
from quorra.broker.redis.index import Proposal
from quorra.core.jobs import Job
from quorra.core.keys import Principal
from quorra.rpc import session
from quorra.rpc.auth import job_message
from quorra.rpc.proto import quorra_pb2 as pb

STAMPS: dict[str, dict[str, float]] = {}


def mark(stage: str, ids: Iterable[object], at: float | None = None) -> None:
    """Stamp ``stage`` for these jobs (the first stamp of a stage stays)."""
    now = time.time() if at is None else at
    for job_id in ids:
        STAMPS.setdefault(str(job_id), {}).setdefault(stage, now)


def install() -> None:
    insert = PostgresBroker._insert
    propose = RedisBroker._propose_inserted
    grant = RedisBroker._grant
    lease = PostgresBroker.lease

    async def timed_insert(self: PostgresBroker, specs: Sequence[Any]) -> Any:
        done = await insert(self, specs)
        mark("committed", (s.id for s in specs))  # Redis mode: stamped before, by the hook
        return done

    async def timed_propose(self: RedisBroker, specs: Sequence[Any], done: Any) -> None:
        mark("committed", (s.id for s in specs))  # the hook runs right after the commit
        await propose(self, specs, done)
        mark("proposed", (s.id for s in specs))

    async def timed_grant(self: RedisBroker, proposals: Sequence[Proposal], worker_id: str,
                          ttl: float) -> list[Job]:
        mark("grant_sent", (p.job_id for p in proposals))
        jobs = await grant(self, proposals, worker_id, ttl)
        mark("granted", (j.id for j in jobs))
        return jobs

    async def timed_lease(self: PostgresBroker, *args: Any, **kwargs: Any) -> Any:
        sent = time.time()
        jobs = await lease(self, *args, **kwargs)
        mark("grant_sent", (j.id for j in jobs), sent)
        mark("granted", (j.id for j in jobs))
        return jobs

    def timed_message(job: Job, principal: Principal | None) -> pb.Job:
        mark("to_stream", (job.id,))
        return job_message(job, principal)

    PostgresBroker._insert = timed_insert  # type: ignore[method-assign]
    RedisBroker._propose_inserted = timed_propose  # type: ignore[method-assign]
    RedisBroker._grant = timed_grant  # type: ignore[method-assign]
    PostgresBroker.lease = timed_lease  # type: ignore[method-assign]
    # the session calls job_message by the name it imported (not re-exported)
    session.job_message = timed_message  # type: ignore[attr-defined]
    atexit.register(_write)


def _write() -> None:
    path = os.environ.get("QUORRA_BENCH_STAMPS", "")
    if path:
        with open(path, "w") as out:
            json.dump(STAMPS, out)
