"""The webhook delivery loop: every server replica runs one.

It leases deliveries (jobs of the reserved queue ``_quorra.webhooks``, made by the database in
the transaction of each outcome: ``0010_webhooks.sql``) through the job service like any worker
would, up to ``concurrency`` at once, and POSTs each to its subscription's URL, signed
(``quorra.webhooks``). A 2xx answer acks the delivery; anything else (another status, a timeout,
a refused connection, a TLS failure) nacks it, so it is retried with the normal backoff and
parks as ``dead`` after the subscription's ``max_retries``. Replicas share the work through the
lease (each delivery is held by one of them at a time); a replica that dies mid-delivery leaves
a lease that expires, and the delivery runs again: at least once, with the same
``Quorra-Delivery`` id for every attempt."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from quorra.core.errors import QuorraError, Unavailable
from quorra.core.jobs import Job
from quorra.core.tasks import raise_if_cancelling, spawn, supervise
from quorra.core.webhooks import WEBHOOK_QUEUE, Target
from quorra.service import JobService
from quorra.webhook_service import WebhookStore
from quorra.webhooks import signature_header

__all__ = ["DeliveryLoop", "delivery_body"]

log = logging.getLogger(__name__)

_WAIT = 1.0  # longest idle wait between looks (NOTIFY wakes it sooner in Postgres mode)
_LEASE_MARGIN = 30.0  # a lease outlives the request's timeout by this much
_STOP_WAIT = 5.0
_USER_AGENT = "Quorra-Webhooks/1"
_encode = msgspec.json.encode


def delivery_body(job: Job, delivered_at: datetime) -> bytes:
    """The JSON a receiver gets: the delivery's id, event, subscription, attempt, when it was
    sent and the job as it was when it reached its final state."""
    payload: dict[str, Any] = job.payload
    return _encode({"id": str(job.id), "event": payload.get("event"),
                    "webhook": payload.get("webhook"), "attempt": job.attempts,
                    "delivered_at": delivered_at.isoformat(), "job": payload.get("job")})


def _headers(job: Job, target: Target, body: bytes) -> dict[str, str]:
    payload: dict[str, Any] = job.payload
    return {"Content-Type": "application/json", "User-Agent": _USER_AGENT,
            "Quorra-Event": str(payload.get("event")), "Quorra-Delivery": str(job.id),
            "Quorra-Webhook": str(payload.get("webhook")),
            "Quorra-Signature": signature_header(target.secret, body, int(time.time()))}


def _verify(ca_file: str) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


class DeliveryLoop:
    def __init__(self, service: JobService, store: WebhookStore, *, timeout: float = 10.0,
                 concurrency: int = 8, ca_file: str = "") -> None:
        self._service = service
        self._store = store
        self._timeout = timeout
        self._concurrency = concurrency
        self._verify = _verify(ca_file)
        self._worker_id = f"quorra-webhooks@{socket.gethostname()}"
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = supervise("quorra-webhook-delivery", self._run)

    async def close(self) -> None:
        """Stop leasing; deliveries under way get ``_STOP_WAIT`` seconds, then are cancelled
        (their leases expire and they run again)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=_STOP_WAIT)
            for task in late:
                task.cancel()

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout, verify=self._verify,
                                     follow_redirects=False, trust_env=False) as client:
            while True:
                raise_if_cancelling()  # close() must end it, whatever swallowed its cancel
                await self._round(client)

    async def _round(self, client: httpx.AsyncClient) -> None:
        free = self._concurrency - len(self._running)
        if free <= 0:
            await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)
            return
        try:
            jobs = await self._service.lease([WEBHOOK_QUEUE], worker_id=self._worker_id,
                                             limit=free, ttl=self._timeout + _LEASE_MARGIN)
        except Unavailable as exc:  # PostgreSQL away: look again later, quietly
            log.warning("webhook deliveries wait: %s", exc.message)
            await asyncio.sleep(_WAIT)
            return
        for job in jobs:
            spawn("quorra-webhook-send", self._deliver(client, job), keep=self._running)
        if not jobs:
            await self._service.wait_for_jobs([WEBHOOK_QUEUE], _WAIT)

    async def _deliver(self, client: httpx.AsyncClient, job: Job) -> None:
        assert job.lease_id is not None
        try:
            target = await self._store.target(str(job.payload.get("webhook")))
            if target is None or not target.enabled:
                gone = "deleted" if target is None else "disabled"
                await self._service.ack(job.id, job.lease_id, {"skipped": f"webhook {gone}"})
                return
            error = await self._post(client, job, target)
            if error is None:
                return
            await self._service.nack(job.id, job.lease_id, error)
        except QuorraError as exc:  # the lease expires and the delivery runs again
            log.warning("webhook delivery %s: %s", job.id, exc.message)

    async def _post(self, client: httpx.AsyncClient, job: Job, target: Target) -> str | None:
        """Send once; ``None`` when the receiver took it (acked here), else the error."""
        assert job.lease_id is not None
        body = delivery_body(job, datetime.now(UTC))
        try:
            answer = await client.post(target.url, content=body,
                                       headers=_headers(job, target, body))
        except httpx.TimeoutException:
            return f"timed out after {self._timeout:g} s"
        except httpx.HTTPError as exc:
            return f"request failed: {type(exc).__name__}"
        if 200 <= answer.status_code < 300:
            await self._service.ack(job.id, job.lease_id, {"status": answer.status_code})
            return None
        return f"HTTP {answer.status_code}"
