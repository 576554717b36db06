"""Webhook subscriptions and their deliveries over PostgreSQL (``webhooks.sql``)."""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg

from quorra.core.errors import InvalidInput, Unavailable, WebhookNotFound
from quorra.core.webhooks import Delivery, NewWebhook, Target, Webhook, glob_to_like
from quorra.db.pool import Pool, connection
from quorra.db.sqlfiles import load_queries

__all__ = ["PostgresWebhooks"]

QUERIES = load_queries("quorra.archive", "webhooks.sql")


def _webhook(row: tuple[Any, ...]) -> Webhook:
    id_, url, events, queue, type_, description, retries, enabled, created, updated = row
    return Webhook(id=id_, url=url, events=list(events), queue=queue, type=type_,
                   description=description, max_retries=retries, enabled=enabled,
                   created_at=created, updated_at=updated)


def _delivery(row: tuple[Any, ...]) -> Delivery:
    id_, status, attempts, retries, error, result, hook, event, job, created, updated, due = row
    code = result.get("status") if isinstance(result, dict) else None
    return Delivery(id=id_, status=status, attempts=attempts, max_retries=retries,
                    last_error=error, response_status=code if isinstance(code, int) else None,
                    webhook=hook, event=event, job_id=job, created_at=created,
                    updated_at=updated, next_attempt_at=due if status == "pending" else None)


class PostgresWebhooks:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def _one(self, query: LiteralString, params: dict[str, Any]) -> tuple[Any, ...]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(query, params)
            row = await cur.fetchone()
        if row is None:
            raise WebhookNotFound()
        return row

    async def _change(self, query: LiteralString, params: dict[str, Any]) -> tuple[Any, ...]:
        """One subscription change, serialized with the others, its lock waits bounded."""
        async with connection(self._pool) as conn:
            try:
                async with conn.transaction():
                    await conn.execute(QUERIES["lock_timeout"])
                    await conn.execute(QUERIES["serialize"])
                    cur = await conn.execute(query, params)
                    row = await cur.fetchone()
            except psycopg.errors.LockNotAvailable:
                raise Unavailable("the job table is busy; try the change again") from None
        if row is None:
            raise WebhookNotFound()
        return row

    async def create(self, new: NewWebhook) -> Webhook:
        req = new.request
        params = {"id": new.id, "url": req.url, "events": req.events, "queue": req.queue,
                  "queue_like": glob_to_like(req.queue), "type": req.type,
                  "type_like": glob_to_like(req.type), "secret": new.secret,
                  "max_retries": req.max_retries, "enabled": req.enabled,
                  "description": req.description}
        try:
            return _webhook(await self._change(QUERIES["create"], params))
        except psycopg.errors.CheckViolation:  # the API checked first: a bug or a race
            raise InvalidInput("body", "refused by the store's checks") from None

    async def all(self, limit: int) -> list[Webhook]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["list"], {"limit": limit})
            return [_webhook(row) for row in await cur.fetchall()]

    async def get(self, webhook_id: str) -> Webhook:
        return _webhook(await self._one(QUERIES["get"], {"id": webhook_id}))

    async def set_enabled(self, webhook_id: str, enabled: bool) -> Webhook:
        return _webhook(await self._change(QUERIES["set_enabled"],
                                           {"id": webhook_id, "enabled": enabled}))

    async def delete(self, webhook_id: str) -> None:
        await self._change(QUERIES["delete"], {"id": webhook_id})

    async def target(self, webhook_id: str) -> Target | None:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["target"], {"id": webhook_id})
            row = await cur.fetchone()
        return None if row is None else Target(url=row[0], secret=row[1], enabled=row[2])

    async def deliveries(self, webhook_id: str | None, limit: int) -> list[Delivery]:
        async with connection(self._pool) as conn:
            cur = await conn.execute(QUERIES["deliveries"],
                                     {"webhook": webhook_id, "limit": limit})
            return [_delivery(row) for row in await cur.fetchall()]
