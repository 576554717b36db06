"""Webhooks: what a subscription is, how its input is checked, and the reserved queue its
deliveries run in.

A subscription names job events (``job.succeeded``, ``job.dead``, ``job.cancelled``), optional
queue and type filters (exact, or globs with ``*`` and ``?``), an HTTPS target and a secret the
server signs each delivery with (``quorra.webhooks``). Deliveries are jobs of
``WEBHOOK_QUEUE``: a name no user queue can take (user queue names start with a letter or a
digit), which no worker can lease (lease requests name queues as enqueues do)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

import msgspec

from quorra.core.errors import InvalidInput
from quorra.core.spec import decode_body

__all__ = ["EVENTS", "WEBHOOK_JOB_TYPE", "WEBHOOK_QUEUE", "Delivery", "NewWebhook", "Target",
           "Webhook",
           "WebhookRequest", "check_request", "glob_to_like", "internal_queues", "new_webhook"]

INTERNAL_PREFIX = "_quorra."  # Quorra's own queues: never proposed in Redis
WEBHOOK_QUEUE = "_quorra.webhooks"
WEBHOOK_JOB_TYPE = "quorra.webhook"
EVENTS = ("job.succeeded", "job.dead", "job.cancelled")
DEFAULT_MAX_RETRIES = 10  # 11 attempts over about 34 minutes of backoff
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
QueuePattern = Annotated[str, msgspec.Meta(min_length=1, max_length=128,
                                           pattern=r"^[A-Za-z0-9*?][A-Za-z0-9_.:*?-]*$")]
TypePattern = Annotated[str, msgspec.Meta(min_length=1, max_length=255,
                                          pattern=r"^[^\x00-\x1f\x7f]+$")]
Description = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Retries = Annotated[int, msgspec.Meta(ge=0, le=100)]


class WebhookRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/webhooks``."""

    url: Url
    events: list[str]
    queue: QueuePattern | None = None
    type: TypePattern | None = None
    description: Description = ""
    max_retries: Retries = DEFAULT_MAX_RETRIES
    enabled: bool = True


class Webhook(msgspec.Struct, frozen=True):
    """A subscription as listed: never its secret."""

    id: str
    url: str
    events: list[str]
    queue: str | None
    type: str | None
    description: str
    max_retries: int
    enabled: bool
    created_at: datetime
    updated_at: datetime


class NewWebhook(msgspec.Struct, frozen=True):
    """A subscription to store, with its fresh secret (shown once, in the creation's answer)."""

    id: str
    request: WebhookRequest
    secret: str


class Target(msgspec.Struct, frozen=True):
    """Where and how one delivery is sent (the secret: for signing only)."""

    url: str
    secret: str
    enabled: bool


class Delivery(msgspec.Struct, frozen=True):
    """One delivery as the API and the dashboard list it: its id (the ``Quorra-Delivery``
    header, the same for every attempt), its job's state and the last answer's status code."""

    id: uuid.UUID
    status: str
    attempts: int
    max_retries: int
    last_error: str | None
    response_status: int | None
    webhook: str | None
    event: str | None
    job_id: str | None
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None


def _check_url(url: str, allow_http: bool) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        raise InvalidInput("url", "not a URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput("url", "must be an absolute https:// URL")
    if parts.scheme == "http" and not allow_http:
        raise InvalidInput("url", "must be https:// (plain http needs "
                                  "QUORRA_WEBHOOK_ALLOW_HTTP=true on the server)")
    if parts.username or parts.password or parts.fragment:
        raise InvalidInput("url", "must not carry credentials or a fragment")


def _check_events(events: list[str]) -> list[str]:
    if not events:
        raise InvalidInput("events", f"name at least one of {', '.join(EVENTS)}")
    unknown = [event for event in events if event not in EVENTS]
    if unknown:
        raise InvalidInput("events", f"unknown event {unknown[0]!r} (one of {', '.join(EVENTS)})")
    return [event for event in EVENTS if event in events]


def check_request(raw: bytes, *, allow_http: bool) -> WebhookRequest:
    """A creation body, strictly decoded and checked; errors name the field."""
    req: WebhookRequest = decode_body(raw, WebhookRequest)
    _check_url(req.url, allow_http)
    return msgspec.structs.replace(req, events=_check_events(req.events))


def glob_to_like(pattern: str | None) -> str | None:
    """A ``*``/``?`` glob as a LIKE pattern (``%``, ``_`` and ``\\`` escaped)."""
    if pattern is None:
        return None
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def new_webhook(req: WebhookRequest) -> NewWebhook:
    """An id (``wh_`` + 12 characters) and a 256-bit secret (``whsec_`` + 43 characters)."""
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return NewWebhook(id=f"wh_{suffix}", request=req,
                      secret=f"whsec_{secrets.token_urlsafe(32)}")


def internal_queues(queues: Iterable[str]) -> set[str]:
    """Those of ``queues`` that are Quorra's own: they lease from PostgreSQL in every mode (few
    jobs; Redis never holds them)."""
    return {queue for queue in queues if queue.startswith(INTERNAL_PREFIX)}
