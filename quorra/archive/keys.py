"""Scoped API keys over PostgreSQL (``keys.sql``): digests only, never a key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from quorra.core.errors import InvalidTransition, KeyNotFound, Unavailable
from quorra.core.keys import ApiKey, NewKey, Role
from quorra.core.tasks import raise_if_cancelling, supervise
from quorra.db.pool import Pool, connection
from quorra.db.sqlfiles import load_queries

__all__ = ["KEYS_CHANNEL", "KeyListener", "PostgresKeys"]

log = logging.getLogger(__name__)
QUERIES = load_queries("quorra.archive", "keys.sql")
KEYS_CHANNEL = "quorra_keys"


def _key(row: tuple[Any, ...]) -> ApiKey:
    key_id, name, role, queues, created_at, revoked_at, tenant = row[:7]
    return ApiKey(key_id, name, Role(role), tuple(queues), created_at, revoked_at, tenant)


class PostgresKeys:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def create(self, new: NewKey) -> ApiKey:
        key = new.key
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["create"], {
                "id": key.id, "name": key.name, "role": key.role.value,
                "queues": list(key.queues), "key_hash": new.digest,
                "created_at": key.created_at, "tenant": key.tenant})
            if await cur.fetchone() is None:
                raise InvalidTransition("that key id is taken; try again")
        return key

    async def all_keys(self, limit: int) -> list[ApiKey]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["list"], {"limit": limit})
            return [_key(row) for row in await cur.fetchall()]

    async def active(self) -> list[tuple[ApiKey, bytes]]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["active"])
            return [(_key(row), bytes(row[7])) for row in await cur.fetchall()]

    async def revoke(self, key_id: str) -> ApiKey:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["revoke"], {"id": key_id})
            row = await cur.fetchone()
        if row is None:
            raise KeyNotFound()
        return _key(row)


class KeyListener:
    """Calls ``changed`` whenever a replica announces a key change on ``quorra_keys`` (and once
    after each (re)connection, for what was missed). The periodic refresh covers lost notes."""

    def __init__(self, url: str, changed: Callable[[], Awaitable[None]]) -> None:
        self._url = url
        self._changed = changed
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = supervise("quorra-keys-listener", self._listen, cap=5.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        """Reconnects with backoff while PostgreSQL is away (a warning, as the job listener
        does: the periodic refresh keeps working once the store is back)."""
        delay = 0.5
        while True:
            raise_if_cancelling()  # close() must end it, whatever swallowed its cancel
            try:
                conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {KEYS_CHANNEL}")
                    delay = 0.5
                    await self._changed()
                    async for _ in conn.notifies():
                        await self._changed()
            except (psycopg.Error, Unavailable) as exc:
                log.warning("keys LISTEN connection lost (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
