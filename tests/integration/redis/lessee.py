"""Lessees that call the broker directly (standing in for gRPC workers), in-process or as a
separate server process: ``python -m tests.integration.redis.lessee`` (see ``main``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, overload

from quorra.broker.postgres import PostgresBroker
from quorra.broker.redis import RedisBroker, RedisIndex, StreamBroker, StreamIndex, connect
from quorra.core.jobs import Job
from quorra.db.pool import create_pool

__all__ = ["drain", "housekeeping", "lease_of", "open_broker"]


def lease_of(job: Job) -> uuid.UUID:
    """The lease id of a job the broker just leased."""
    assert job.lease_id is not None, job
    return job.lease_id


@overload
def open_broker(db_url: str, redis_url: str, *, pool_size: int = 12, leases: str = "grant",
                **options: Any) -> AbstractAsyncContextManager[RedisBroker]: ...
@overload
def open_broker(db_url: str, redis_url: str | None, *, pool_size: int = 12,
                leases: str = "grant",
                **options: Any) -> AbstractAsyncContextManager[RedisBroker | PostgresBroker]: ...
def open_broker(db_url: str, redis_url: str | None, *, pool_size: int = 12,
                leases: str = "grant",
                **options: Any) -> AbstractAsyncContextManager[RedisBroker | PostgresBroker]:
    """A started broker: Redis mode when ``redis_url`` is given (``leases``: ``grant`` or
    ``stream``), else Postgres-only."""
    return _opened(db_url, redis_url, pool_size, leases, options)


@contextlib.asynccontextmanager
async def _opened(db_url: str, redis_url: str | None, pool_size: int, leases: str,
                  options: dict[str, Any]) -> AsyncIterator[RedisBroker | PostgresBroker]:
    pool = create_pool(db_url, max_size=pool_size, timeout=5)
    await pool.open(wait=True)
    postgres = PostgresBroker(pool, db_url)
    broker: RedisBroker | PostgresBroker = postgres
    if redis_url is not None and leases == "stream":
        broker = StreamBroker(postgres, pool, StreamIndex(connect(redis_url)), **options)
    elif redis_url is not None:
        broker = RedisBroker(postgres, pool, RedisIndex(connect(redis_url)), **options)
    try:
        await broker.start()
        yield broker
    finally:
        await broker.close()
        await pool.close()


async def housekeeping(broker: RedisBroker | PostgresBroker) -> None:
    """What a server's housekeeping chores do, run by an idle lessee (these harnesses have no
    scheduler): after a fault, a proposal whose dispatch failed comes back by the repair sweep,
    one a lease call took but whose reply was lost by reclaim (grant mode), and a lease whose
    reply was lost by expiry (stream mode)."""
    if isinstance(broker, RedisBroker):
        await broker.repair()
        await broker.reclaim()
    await broker.reap_expired()


async def drain(broker: RedisBroker | PostgresBroker, queue: str, *, lessees: int,
                executed: list[uuid.UUID], until: Any, deadline: float, batch: int = 10,
                on_lease: Any = None) -> None:
    """Run ``lessees`` lease→ack loops until ``until()`` is true or ``deadline`` (monotonic)."""

    async def one(n: int) -> None:
        while not until() and time.monotonic() < deadline:
            jobs = await broker.lease([queue], worker_id=f"lessee-{n}", limit=batch, ttl=60)
            if not jobs:
                if n == 0:
                    await housekeeping(broker)
                await broker.wait_for_jobs([queue], 0.2)
                continue
            if on_lease is not None:
                on_lease(jobs)
            for job in jobs:
                assert job.lease_id is not None
                executed.append(job.id)
                await broker.ack(job.id, job.lease_id)

    await asyncio.gather(*(one(n) for n in range(lessees)))


async def _main(args: argparse.Namespace) -> None:
    executed: list[uuid.UUID] = []
    async with open_broker(args.db, args.redis or None) as broker:
        print("ready", flush=True)
        started = time.monotonic()
        idle_since = [time.monotonic()]

        def until() -> bool:
            if len(executed) != getattr(until, "seen", -1):
                until.seen = len(executed)  # type: ignore[attr-defined]
                idle_since[0] = time.monotonic()
            idle: float = args.idle
            return time.monotonic() - idle_since[0] > idle

        await drain(broker, args.queue, lessees=args.lessees, executed=executed, until=until,
                    deadline=started + args.timeout)
        elapsed = idle_since[0] - started
    json.dump({"executed": [str(i) for i in executed], "seconds": elapsed}, sys.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--redis", default="")
    parser.add_argument("--queue", default="default")
    parser.add_argument("--lessees", type=int, default=8)
    parser.add_argument("--idle", type=float, default=2.0, help="stop after this long idle")
    parser.add_argument("--timeout", type=float, default=120.0)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
