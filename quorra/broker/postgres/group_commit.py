"""Group commit: concurrent enqueues share transactions, and each caller still waits for its own
commit. The first caller never waits to fill a batch; whoever arrives while a flush is in flight
rides the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from quorra.core.errors import Unavailable
from quorra.core.tasks import spawn

__all__ = ["GroupCommitter"]

Item = TypeVar("Item")
Result = TypeVar("Result")

Flush = Callable[[list[Item]], Awaitable[list[Result]]]


class GroupCommitter(Generic[Item, Result]):
    def __init__(self, flush: Flush[Item, Result], *, max_batch: int = 2000,
                 max_inflight: int = 2) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._max_inflight = max_inflight
        self._waiting: list[tuple[Sequence[Item], asyncio.Future[list[Result]]]] = []
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # flushes run (for measurements)

    async def submit(self, items: Sequence[Item]) -> list[Result]:
        """Results in the order of ``items``, once their transaction committed."""
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        self._start_flushes()
        return await future

    def _start_flushes(self) -> None:
        while self._waiting and self._inflight < self._max_inflight:
            group = self._take_group()
            self._inflight += 1
            spawn("quorra-group-commit", self._run(group), keep=self._tasks)

    def _take_group(self) -> list[tuple[Sequence[Item], asyncio.Future[list[Result]]]]:
        group: list[tuple[Sequence[Item], asyncio.Future[list[Result]]]] = []
        rows = 0
        while self._waiting and (not group or rows + len(self._waiting[0][0]) <= self._max_batch):
            entry = self._waiting.pop(0)
            group.append(entry)
            rows += len(entry[0])
        return group

    async def _run(self, group: list[tuple[Sequence[Item], asyncio.Future[list[Result]]]]) -> None:
        try:
            await self._commit(group)
        finally:
            self.batches += 1
            self._inflight -= 1
            self._start_flushes()

    async def _commit(self, group: list[tuple[Sequence[Item], asyncio.Future[list[Result]]]]
                      ) -> None:
        try:
            results = await self._flush([item for items, _ in group for item in items])
        except Unavailable as exc:  # the store is away: every caller learns it
            _fail(group, exc)
        except Exception as exc:
            if len(group) == 1:
                _fail(group, exc)
            else:  # a poisoned item fails only its own caller: each caller alone again
                for entry in group:
                    await self._commit([entry])
        except BaseException:
            _fail(group, RuntimeError("the group commit was interrupted"))
            raise
        else:
            start = 0
            for items, future in group:
                if not future.done():
                    future.set_result(results[start : start + len(items)])
                start += len(items)


def _fail(group: list[tuple[Sequence[Item], asyncio.Future[list[Result]]]],
          exc: Exception) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(exc)
