"""WebhookService: webhook subscriptions' use-cases (the REST API and the dashboard call it).

A subscription's secret is made here, stored, and returned once, in the creation's answer; no
other read returns it (``WebhookStore.target`` hands it to the delivery loop only). Which jobs
get deliveries is decided in the database, in the transaction of each outcome
(``0010_webhooks.sql``), so nothing here sits on the job path."""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec

from quorra.core.webhooks import (
    Delivery,
    NewWebhook,
    Target,
    Webhook,
    check_request,
    new_webhook,
)

__all__ = ["CreatedWebhook", "WebhookService", "WebhookStore"]

log = logging.getLogger(__name__)
MAX_LISTED = 1000
MAX_DELIVERIES = 200


class CreatedWebhook(msgspec.Struct, frozen=True):
    webhook: Webhook
    secret: str


class WebhookStore(Protocol):
    async def create(self, new: NewWebhook) -> Webhook: ...

    async def all(self, limit: int) -> list[Webhook]: ...

    async def get(self, webhook_id: str) -> Webhook: ...

    async def set_enabled(self, webhook_id: str, enabled: bool) -> Webhook: ...

    async def delete(self, webhook_id: str) -> None: ...

    async def deliveries(self, webhook_id: str | None, limit: int) -> list[Delivery]: ...

    async def target(self, webhook_id: str) -> Target | None: ...


class WebhookService:
    def __init__(self, store: WebhookStore, *, allow_http: bool = False) -> None:
        self.store = store
        self.allow_http = allow_http

    async def create(self, raw: bytes) -> CreatedWebhook:
        """Check a creation body (``InvalidInput`` names the field; nothing stored) and store
        the subscription with a fresh secret."""
        new = new_webhook(check_request(raw, allow_http=self.allow_http))
        made = await self.store.create(new)
        log.info("webhook %s created (%s)", made.id, ", ".join(made.events))
        return CreatedWebhook(webhook=made, secret=new.secret)

    async def all(self) -> list[Webhook]:
        return await self.store.all(MAX_LISTED)

    async def get(self, webhook_id: str) -> Webhook:
        return await self.store.get(webhook_id)

    async def set_enabled(self, webhook_id: str, enabled: bool) -> Webhook:
        changed = await self.store.set_enabled(webhook_id, enabled)
        log.info("webhook %s %s", webhook_id, "enabled" if enabled else "disabled")
        return changed

    async def delete(self, webhook_id: str) -> None:
        await self.store.delete(webhook_id)
        log.info("webhook %s deleted", webhook_id)

    async def deliveries(self, webhook_id: str | None = None,
                         limit: int = 50) -> list[Delivery]:
        """The newest deliveries (of one subscription, or all), newest first."""
        if webhook_id is not None:
            await self.store.get(webhook_id)  # WebhookNotFound for an unknown id
        return await self.store.deliveries(webhook_id, min(max(limit, 1), MAX_DELIVERIES))
