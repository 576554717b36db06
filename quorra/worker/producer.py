"""Enqueue follow-up jobs from a handler, through the running worker's producer client (same
server, same API key, one channel for all its handlers)::

    from quorra.worker import followup_id, handler, producer

    @handler("video_upload")
    async def upload(job: Job) -> None:
        await producer().enqueue("thumbnail", {"video": job.payload["video"]},
                                 id=followup_id(job, "thumbnail"))

``producer()`` is for ``async def`` handlers, ``sync_producer()`` for plain ``def`` ones.
``followup_id(job, key)`` is the same for every attempt of a job, so a handler that fails
after enqueueing and runs again does not enqueue its follow-up twice.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from typing import TYPE_CHECKING

from quorra.worker.config import WorkerConfig
from quorra.worker.registry import Job

if TYPE_CHECKING:
    from quorra.client import AsyncClient, Client

__all__ = ["Producers", "followup_id", "producer", "sync_producer"]


class Producers:
    """The worker's producer clients, made on first use and closed with the worker."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self._async: AsyncClient | None = None
        self._sync: Client | None = None
        self._lock = threading.Lock()  # sync handlers run on several threads at once

    def async_client(self) -> AsyncClient:
        if self._async is None:
            from quorra.client import AsyncClient

            self._async = AsyncClient(self.config.grpc_addr, api_key=self.config.api_key)
        return self._async

    def sync_client(self) -> Client:
        with self._lock:
            if self._sync is None:
                from quorra.client import Client

                self._sync = Client(self.config.grpc_addr, api_key=self.config.api_key)
            return self._sync

    async def close(self) -> None:
        if self._async is not None:
            await self._async.close()
        if self._sync is not None:
            await asyncio.to_thread(self._sync.close)


_current: contextvars.ContextVar[Producers | None] = contextvars.ContextVar(
    "quorra_worker_producers", default=None)


def bind(config: WorkerConfig) -> Producers:
    """Called by ``Worker.run``: handlers started from here on find these clients."""
    producers = Producers(config)
    _current.set(producers)
    return producers


def _producers() -> Producers:
    producers = _current.get()
    if producers is None:
        raise RuntimeError("no running quorra worker here: producer() is for job handlers; "
                           "elsewhere use quorra.Client() or quorra.AsyncClient()")
    return producers


def producer() -> AsyncClient:
    """The running worker's ``quorra.AsyncClient`` (call it from an ``async def`` handler)."""
    return _producers().async_client()


def sync_producer() -> Client:
    """The running worker's ``quorra.Client`` (call it from a plain ``def`` handler)."""
    return _producers().sync_client()


def followup_id(job: Job, key: str) -> str:
    """A job id derived from ``job`` and ``key``: the same on every attempt of ``job``."""
    return str(uuid.uuid5(uuid.UUID(job.id), key))
