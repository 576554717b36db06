"""``Client``: the blocking producer client. It runs an ``AsyncClient`` on its own event loop
thread, so it works the same from plain scripts, threads and sync job handlers; it is
thread-safe (calls from many threads share one channel)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from quorra.client.aio import AsyncClient, JobInput
from quorra.client.types import Enqueued, JobInfo

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """Enqueue and look up jobs from blocking code (same arguments as ``AsyncClient``)::

        with quorra.Client() as client:
            done = client.enqueue("email_send", {"to": "a@example.com"})
            ids = [d.id for d in client.enqueue_many(jobs)]
    """

    def __init__(self, target: str | None = None, *, api_key: str | None = None,
                 timeout: float = 10.0, retry_for: float = 5.0, batch_size: int = 500,
                 concurrency: int = 4, env: Mapping[str, str] | None = None) -> None:
        self._async = AsyncClient(target, api_key=api_key, timeout=timeout, retry_for=retry_for,
                                  batch_size=batch_size, concurrency=concurrency, env=env)
        self.config = self._async.config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="quorra-client",
                                        daemon=True)
        self._thread.start()
        self._closed = False

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._run(self._async.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        if self._closed and self._loop.is_closed():
            work.close()
            raise RuntimeError("the client is closed")
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def enqueue(self, type: str, payload: Mapping[str, Any] | None = None, *,
                queue: str | None = None, priority: int | None = None,
                delay: float | None = None, run_at: datetime | None = None,
                max_retries: int | None = None, id: str | None = None,
                timeout: float | None = None, unique_key: str | None = None,
                unique_for: float | None = None,
                depends_on: Sequence[str] = (), traceparent: str | None = None) -> Enqueued:
        """Store one job; returns once it is committed (its id, status and run_at).
        ``timeout``: each attempt's time limit in seconds (unset: the server's default)."""
        return self._run(self._async.enqueue(type, payload, queue=queue, priority=priority,
                                             delay=delay, run_at=run_at,
                                             max_retries=max_retries, id=id, timeout=timeout,
                                             unique_key=unique_key, unique_for=unique_for,
                                             depends_on=depends_on, traceparent=traceparent))

    def enqueue_many(self, jobs: Iterable[JobInput]) -> list[Enqueued]:
        """Store any number of jobs, many per message; returns them in the order given."""
        return self._run(self._async.enqueue_many(jobs))

    def get(self, job_id: str) -> JobInfo:
        """The job as stored now; ``NotFound`` if there is none."""
        return self._run(self._async.get(job_id))

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel a pending or running job; see ``AsyncClient.cancel``."""
        return self._run(self._async.cancel(job_id))
