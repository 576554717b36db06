"""Background tasks that never die silently.

Every long-lived task of a server or worker starts through one of these:

- ``supervise(name, body)`` runs ``body`` (a loop that normally runs until cancelled) and, when
  it raises, logs the failure at ERROR with its traceback and starts it again after a backoff
  (doubling, capped, reset once the body ran for a while). A body that returns has finished its
  work: the supervision ends with it.
- ``spawn(name, coro, on_error=...)`` starts a one-shot task; if it fails, the failure is logged
  at ERROR with its traceback and ``on_error`` tells its owner (e.g. a session ends itself so
  the worker reconnects).

Failures are counted per task name in ``FAILURES`` (exported as a metric).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["FAILURES", "Backoff", "raise_if_cancelling", "report_failure", "spawn", "supervise"]

log = logging.getLogger("quorra.tasks")

T = TypeVar("T")

FAILURES: collections.Counter[str] = collections.Counter()


class Backoff:
    """Delays that double from ``first`` up to ``cap``; ``reset`` starts over."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self.delay = first

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first


def raise_if_cancelling() -> None:
    """Stop a loop whose task was asked to stop even if the cancel itself was lost on the way
    (a library's ``asyncio.wait_for`` on Python 3.11, e.g. psycopg_pool's wait for a free
    connection, can return normally instead of raising it)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def report_failure(name: str, exc: BaseException, action: str) -> None:
    """Log a background failure at ERROR (with its traceback) and count it."""
    FAILURES[name] += 1
    log.error("background task %s failed; %s", name, action, exc_info=exc)


async def _supervised(name: str, body: Callable[[], Awaitable[None]], backoff: Backoff,
                      healthy_after: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await body()
            return
        except Exception as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # the cancel became an error inside the body (a library translated it): the
                # task was asked to stop, so it stops instead of restarting the body for ever
                raise asyncio.CancelledError from exc
            if loop.time() - started >= healthy_after:
                backoff.reset()
            delay = backoff.next()
            report_failure(name, exc, f"restarting it in {delay:.1f}s")
        await asyncio.sleep(delay)


def supervise(name: str, body: Callable[[], Awaitable[None]], *, first: float = 0.1,
              cap: float = 5.0, healthy_after: float = 10.0) -> asyncio.Task[None]:
    """Run ``body`` in a task, restarting it with backoff whenever it raises."""
    return asyncio.create_task(_supervised(name, body, Backoff(first, cap), healthy_after),
                               name=name)


def spawn(name: str, coro: Coroutine[Any, Any, T], *,
          on_error: Callable[[BaseException], object] | None = None,
          keep: set[asyncio.Task[Any]] | None = None) -> asyncio.Task[T]:
    """Start ``coro``; a failure is logged at ERROR and reported to ``on_error``. ``keep``
    holds a reference while the task runs (the event loop keeps only weak ones)."""
    task = asyncio.create_task(coro, name=name)
    if keep is not None:
        keep.add(task)
        task.add_done_callback(keep.discard)
    task.add_done_callback(lambda done: _report(name, done, on_error))
    return task


def _report(name: str, task: asyncio.Task[Any],
            on_error: Callable[[BaseException], object] | None) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is None:
        return
    report_failure(name, exc, "its owner is told" if on_error else "nothing restarts it")
    if on_error is not None:
        on_error(exc)
