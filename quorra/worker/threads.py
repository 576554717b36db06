"""``HandlerThreads``: where sync handlers run. Up to one thread per handler slot (started as
calls find no idle thread) takes calls from one queue, and their completions reach the event
loop in batches: one loop wake-up for all the calls that finished since the last one, not one
per call (as ``run_in_executor`` costs), so a busy worker settles many jobs per wake-up and per
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["HandlerThreads"]

_Done = tuple["asyncio.Future[Any]", Any, BaseException | None]


class HandlerThreads:
    def __init__(self, size: int, name: str = "quorra-handler") -> None:
        self.size = size
        self.name = name
        self._calls: queue.SimpleQueue[tuple[asyncio.Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue())
        self._done: list[_Done] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)  # threads waiting for a call

    def run(self, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Call ``func(*args)`` on a handler thread with the caller's context variables."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.shutdown()  # a new event loop (a restarted worker): fresh threads
            self._loop = loop
        future = loop.create_future()
        context = contextvars.copy_context()
        self._calls.put((future, lambda: context.run(func, *args)))
        if not self._idle.acquire(blocking=False) and len(self._threads) < self.size:
            self._add_thread()
        return future

    def shutdown(self, wait: bool = False) -> None:
        """Threads end after their current call (``wait``: this returns when they have)."""
        threads, self._threads = self._threads, []
        self._idle = threading.Semaphore(0)
        for _ in threads:
            self._calls.put(None)
        for thread in threads if wait else ():
            thread.join()
        self._idle = threading.Semaphore(0)

    def _add_thread(self) -> None:
        thread = threading.Thread(target=self._serve, args=(self._idle,),
                                  name=f"{self.name}_{len(self._threads)}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _serve(self, idle: threading.Semaphore) -> None:
        while (call := self._calls.get()) is not None:
            future, func = call
            if future.cancelled():
                idle.release()
                continue
            try:
                outcome: _Done = (future, func(), None)
            except BaseException as exc:  # handed to the awaiting task, like an executor
                outcome = (future, None, exc)
            idle.release()  # before the result is out: the next call finds this thread idle
            self._finish(outcome)

    def _finish(self, outcome: _Done) -> None:
        with self._lock:
            self._done.append(outcome)
            first = len(self._done) == 1
        loop = self._loop
        if first and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody awaits these
                loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            done, self._done = self._done, []
        for future, result, exc in done:
            if future.cancelled():
                continue
            if exc is None:
                future.set_result(result)
            else:
                future.set_exception(exc)
