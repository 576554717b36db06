"""A resume proposes the queue's pending jobs again, in the background: a proposal the grant
refused while the pause had not reached Redis was dropped and must come back, but re-proposing
a large backlog must not hold the resume's request (the proposals Redis still holds are
leasable at once). The refused proposal's return is in the contract suite
(``TestPauseInRedisMode``)."""

from __future__ import annotations

import asyncio
from typing import Any

from quorra.broker.redis import RedisBroker
from tests.contract.conftest import spec
from tests.integration.redis.lessee import open_broker
from tests.integration.redis.private_redis import PrivateRedis

QUEUE = "held"


class _GatedSweep:
    """Stands in for ``Supervisor.sweep``: counts its calls and holds each until opened."""

    def __init__(self, broker: RedisBroker) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self._real = broker.supervisor.sweep
        broker.supervisor.sweep = self  # type: ignore[method-assign]

    async def __call__(self, **kwargs: Any) -> int:
        self.calls += 1
        self.entered.set()
        async with asyncio.timeout(10):
            await self.gate.wait()
        return await self._real(**kwargs)


async def test_resume_answers_before_its_sweep_and_held_proposals_lease_at_once(
        clean_db: str, private_redis: PrivateRedis) -> None:
    async with open_broker(clean_db, private_redis.url) as broker:
        (job,) = await broker.enqueue([spec(queue=QUEUE)])
        await broker.set_paused(QUEUE, True)
        sweep = _GatedSweep(broker)
        async with asyncio.timeout(2):
            await broker.set_paused(QUEUE, False)
        async with asyncio.timeout(2):
            await sweep.entered.wait()
        (leased,) = await broker.lease([QUEUE], worker_id="w", limit=10, ttl=30)
        assert leased.id == job.id and not sweep.gate.is_set(), "leased while the sweep waits"
        sweep.gate.set()
        await broker.supervisor.resume_sweeps()
        assert sweep.calls == 1


async def test_resumes_during_a_sweep_make_one_more_sweep(
        clean_db: str, private_redis: PrivateRedis) -> None:
    async with open_broker(clean_db, private_redis.url) as broker:
        await broker.enqueue([spec(queue=QUEUE)])
        sweep = _GatedSweep(broker)
        await broker.set_paused(QUEUE, False)
        async with asyncio.timeout(2):
            await sweep.entered.wait()
        for _ in range(3):
            await broker.set_paused(QUEUE, False)
        sweep.gate.set()
        await broker.supervisor.resume_sweeps()
        assert sweep.calls == 2, "the running sweep, then one for the resumes it missed"
