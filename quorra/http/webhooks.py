"""``/v1/webhooks``: webhook subscriptions (admin). The secret is in the creation's answer only;
listings and reads show everything else, never the secret."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, Parameter

from quorra.core.errors import Unavailable
from quorra.core.spec import decode_body
from quorra.core.webhooks import Delivery, Webhook, WebhookRequest
from quorra.http.auth import require_api_key
from quorra.http.errors import error_responses
from quorra.http.openapi import json_body_operation
from quorra.webhook_service import WebhookService

__all__ = ["CreatedWebhookView", "DeliveryList", "WebhookList", "WebhookPatch",
           "WebhooksController", "webhook_service"]


class WebhookPatch(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool


class CreatedWebhookView(Webhook, frozen=True):
    """The subscription as listed, plus its secret."""

    secret: str  # signs every delivery: shown this once


class WebhookList(msgspec.Struct):
    webhooks: list[Webhook]


class DeliveryList(msgspec.Struct):
    deliveries: list[Delivery]


def webhook_service(state: State) -> WebhookService:
    webhooks: WebhookService | None = state.webhooks
    if webhooks is None:
        raise Unavailable("webhooks are not served here")
    return webhooks


class WebhooksController(Controller):
    path = "/v1/webhooks"
    before_request = staticmethod(require_api_key)
    security = [{"apiKey": []}]  # noqa: RUF012
    tags = ["webhooks"]  # noqa: RUF012

    @post("/", status_code=201, operation_class=json_body_operation(WebhookRequest),
          responses=error_responses(400, 401, 403, 413, 503),
          summary="Subscribe a URL to job events (the answer holds the signing secret: it is "
                  "never shown again)")
    async def create(self, request: Request[Any, Any, Any]) -> CreatedWebhookView:
        made = await webhook_service(request.app.state).create(await request.body())
        return CreatedWebhookView(**msgspec.structs.asdict(made.webhook), secret=made.secret)

    @get("/", responses=error_responses(401, 403, 503),
         summary="List webhook subscriptions (never their secrets)")
    async def list_webhooks(self, state: State) -> WebhookList:
        return WebhookList(webhooks=await webhook_service(state).all())

    @get("/{webhook_id:str}", responses=error_responses(401, 403, 404, 503),
         summary="Get a webhook subscription (never its secret)")
    async def get_webhook(self, webhook_id: FromPath[str], state: State) -> Webhook:
        return await webhook_service(state).get(webhook_id)

    @patch("/{webhook_id:str}", status_code=200, operation_class=json_body_operation(WebhookPatch),
           responses=error_responses(400, 401, 403, 404, 503),
           summary="Enable or disable a subscription (a disabled one gets no new deliveries, "
                   "and its pending ones are skipped)")
    async def patch_webhook(self, webhook_id: FromPath[str],
                            request: Request[Any, Any, Any]) -> Webhook:
        body: WebhookPatch = decode_body(await request.body(), WebhookPatch)
        return await webhook_service(request.app.state).set_enabled(webhook_id, body.enabled)

    @delete("/{webhook_id:str}", status_code=204, responses=error_responses(401, 403, 404, 503),
            summary="Delete a subscription (its pending deliveries are skipped)")
    async def delete_webhook(self, webhook_id: FromPath[str], state: State) -> None:
        await webhook_service(state).delete(webhook_id)

    @get("/{webhook_id:str}/deliveries", responses=error_responses(401, 403, 404, 503),
         summary="A subscription's newest deliveries (jobs of the queue _quorra.webhooks)")
    async def deliveries(self, webhook_id: FromPath[str], state: State,
                         limit: int = Parameter(default=50, ge=1, le=200)) -> DeliveryList:
        return DeliveryList(deliveries=await webhook_service(state).deliveries(webhook_id,
                                                                                limit))
