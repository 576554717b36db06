from __future__ import annotations

import asyncio

import pytest

from quorra.broker.postgres.group_commit import GroupCommitter
from quorra.core.errors import StoreUnavailable


async def test_concurrent_submits_share_flushes_and_keep_order() -> None:
    flushed: list[list[int]] = []
    gate = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        flushed.append(items)
        await gate.wait()
        return [i * 10 for i in items]

    committer: GroupCommitter[int, int] = GroupCommitter(flush, max_batch=100, max_inflight=1)
    tasks = [asyncio.create_task(committer.submit([i, i + 1000])) for i in range(20)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert results == [[i * 10, (i + 1000) * 10] for i in range(20)]
    assert flushed[0] == [0, 1000], "the first caller never waits to fill a batch"
    assert len(flushed) == 2 and len(flushed[1]) == 38


async def test_failure_reaches_every_caller_of_the_batch() -> None:
    async def flush(items: list[int]) -> list[int]:
        raise RuntimeError("commit failed")

    committer: GroupCommitter[int, int] = GroupCommitter(flush)
    results = await asyncio.gather(*(committer.submit([i]) for i in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_batches_respect_max_batch() -> None:
    sizes: list[int] = []

    async def flush(items: list[int]) -> list[int]:
        sizes.append(len(items))
        await asyncio.sleep(0)
        return items

    committer: GroupCommitter[int, int] = GroupCommitter(flush, max_batch=10, max_inflight=1)
    await asyncio.gather(*(committer.submit([i] * 3) for i in range(12)))
    assert max(sizes) <= 10 and sum(sizes) == 36


@pytest.mark.parametrize("text", ["-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;"])
def test_duplicate_query_names_are_refused(text: str) -> None:
    from quorra.db.sqlfiles import parse_queries

    with pytest.raises(ValueError, match="duplicate"):
        parse_queries(text)


async def test_a_poisoned_item_fails_only_its_caller() -> None:
    flushed: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        flushed.append(items)
        if 13 in items:
            raise ValueError("the store rejects 13")
        return [i * 10 for i in items]

    committer: GroupCommitter[int, int] = GroupCommitter(flush, max_inflight=1)
    results = await asyncio.gather(*(committer.submit([i, i + 100]) for i in range(10, 16)),
                                   return_exceptions=True)
    assert isinstance(results[3], ValueError)
    assert [r for i, r in enumerate(results) if i != 3] == [
        [i * 10, (i + 100) * 10] for i in (10, 11, 12, 14, 15)]
    assert any(len(batch) > 2 for batch in flushed), "the callers did share a flush first"


async def test_unavailable_fails_the_batch_without_retrying_each_caller() -> None:
    calls: list[int] = []
    gate = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        calls.append(len(items))
        await gate.wait()
        raise StoreUnavailable("PostgreSQL is restarting")

    committer: GroupCommitter[int, int] = GroupCommitter(flush, max_inflight=1)
    tasks = [asyncio.create_task(committer.submit([i])) for i in range(5)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert calls == [1, 4]
