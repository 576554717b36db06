"""Wake lessees when jobs arrive: at once for enqueues made by this process, through
LISTEN/NOTIFY for those of other replicas. Waits are bounded so a polling backup covers lost
notifications and jobs whose delay ran out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence

import psycopg
import psycopg_pool

from quorra.broker.wakeups import Wakeups
from quorra.core.tasks import raise_if_cancelling, spawn, supervise
from quorra.db.pool import Pool
from quorra.db.sqlfiles import load_queries

__all__ = ["CANCEL_CHANNEL", "CHANNEL", "Waker"]

log = logging.getLogger(__name__)

CHANNEL = "quorra_jobs"
CANCEL_CHANNEL = "quorra_cancel"  # "origin job lease": a lease a cancel voided
QUERIES = load_queries("quorra.broker.postgres")


class Waker:
    def __init__(self, url: str, pool: Pool, *,
                 debounce: float = 0.02) -> None:
        self._url = url
        self._pool = pool
        self._debounce = debounce
        self._local = Wakeups()
        self._outbox: set[str] = set()
        self._sender: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._origin = uuid.uuid4().hex  # this process: its own cancel notes are not re-told
        self._on_cancel: Callable[[uuid.UUID, uuid.UUID], None] = lambda job, lease: None

    def on_cancel(self, hook: Callable[[uuid.UUID, uuid.UUID], None]) -> None:
        """Call ``hook(job, lease)`` for each voided lease another replica announces."""
        self._on_cancel = hook

    async def notify_cancel(self, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Tell the other replicas these leases were voided (in one statement, after the
        cancel committed). A failure is logged: the worker's next heartbeat is refused."""
        notes = [f"{self._origin} {job} {lease}" for job, lease in pairs]
        try:
            async with self._pool.connection() as conn:
                await conn.execute(QUERIES["notify_cancel"], {"pairs": notes})
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            log.warning("cancel NOTIFY failed (the workers' heartbeats will be refused): %s",
                        exc)

    def _cancel_note(self, payload: str) -> None:
        origin, job, lease = payload.split(" ")
        if origin != self._origin:
            self._on_cancel(uuid.UUID(job), uuid.UUID(lease))

    def start(self) -> None:
        self._listener = supervise("quorra-pg-listener", self._listen)

    async def close(self) -> None:
        for task in (self._listener, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        await self._local.wait(queues, timeout)

    def wake(self, queues: Iterable[str] | None) -> None:
        """Wake local waiters on these queues (``None``: everyone)."""
        self._local.wake(queues)

    def announce(self, queues: Iterable[str]) -> None:
        """Wake local waiters now and other replicas through a debounced NOTIFY."""
        queues = set(queues)
        self.wake(queues)
        self._outbox |= queues
        if self._sender is None or self._sender.done():
            self._sender = spawn("quorra-pg-notify", self._send())

    async def _send(self) -> None:
        while self._outbox:
            queues, self._outbox = sorted(self._outbox), set()
            try:
                async with self._pool.connection() as conn:
                    await conn.execute(QUERIES["notify"], {"queues": queues})
            except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
                log.debug("NOTIFY failed (pollers will catch up): %s", exc)
            await asyncio.sleep(self._debounce)

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            raise_if_cancelling()  # close() must end it, whatever swallowed its cancel
            try:
                conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await conn.execute(f"LISTEN {CANCEL_CHANNEL}")
                    delay = 0.5
                    self.wake(None)  # anything sent while we were away
                    async for note in conn.notifies():
                        if note.channel == CANCEL_CHANNEL:
                            self._cancel_note(note.payload)
                        else:
                            self.wake((note.payload,))
            except psycopg.Error as exc:
                log.warning("LISTEN connection lost (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
