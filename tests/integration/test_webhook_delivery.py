"""One delivery attempt of the delivery loop against PostgreSQL, with the receiver played by an
``httpx.MockTransport``: a 2xx acks the delivery (its status kept), a 500 or a timeout is a
failed attempt (pending again after backoff, the error kept), a deleted or disabled
subscription's delivery is completed as skipped without any request. The request carries the
signed body and the headers receivers rely on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry

from quorra.archive.postgres import PostgresArchive
from quorra.archive.webhooks import PostgresWebhooks
from quorra.broker.postgres import PostgresBroker
from quorra.core.jobs import Job, JobStatus
from quorra.core.webhooks import WEBHOOK_QUEUE, WebhookRequest, new_webhook
from quorra.db.pool import create_pool
from quorra.metrics import Metrics
from quorra.service import JobService
from quorra.webhook_delivery import DeliveryLoop
from quorra.webhooks import verify
from tests.contract.conftest import spec

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Rig:
    service: JobService
    store: PostgresWebhooks
    loop: DeliveryLoop
    hook: str
    secret: str

    async def delivery(self) -> Job:
        """Finish one job of queue ``q`` and lease the delivery it made."""
        (done,) = await self.service.enqueue([spec(queue="q")])
        (job,) = await self.service.lease(["q"], worker_id="w", limit=1)
        assert job.lease_id is not None
        await self.service.ack(job.id, job.lease_id, {"n": 1})
        (delivery,) = await self.service.lease([WEBHOOK_QUEUE], worker_id="hooks", limit=1)
        assert delivery.payload["job"]["id"] == str(done.id)
        return delivery

    async def send(self, delivery: Job, handler: Handler) -> Job:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            await self.loop._deliver(client, delivery)
        return await self.service.get(delivery.id)


@pytest.fixture
async def rig(clean_db: str) -> AsyncIterator[Rig]:
    pool = create_pool(clean_db, max_size=4, timeout=5)
    await pool.open(wait=True)
    broker = PostgresBroker(pool, clean_db)
    await broker.start()
    service = JobService(broker, PostgresArchive(pool), Metrics(CollectorRegistry()))
    store = PostgresWebhooks(pool)
    new = new_webhook(WebhookRequest(url="https://hooks.example.com/in", events=["job.succeeded"]))
    await store.create(new)
    try:
        yield Rig(service, store, DeliveryLoop(service, store, timeout=2.0), new.id, new.secret)
    finally:
        await broker.close()
        await pool.close()


async def test_a_2xx_acks_and_the_request_is_signed(rig: Rig) -> None:
    seen: list[httpx.Request] = []

    def accept(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    delivery = await rig.delivery()
    stored = await rig.send(delivery, accept)
    assert (stored.status, stored.result) == (JobStatus.SUCCEEDED, {"status": 204})
    (request,) = seen
    assert str(request.url) == "https://hooks.example.com/in" and request.method == "POST"
    headers = request.headers
    assert headers["Quorra-Delivery"] == str(delivery.id)
    assert headers["Quorra-Event"] == "job.succeeded" and headers["Quorra-Webhook"] == rig.hook
    assert headers["Content-Type"] == "application/json"
    verify(request.content, headers["Quorra-Signature"], rig.secret)
    body = json.loads(request.content)
    assert body["job"]["result"] == {"n": 1} and body["attempt"] == 1
    assert rig.secret not in request.content.decode()


@pytest.mark.parametrize(("handler", "error"), [
    (lambda request: httpx.Response(500, text="nope"), "HTTP 500"),
    (lambda request: httpx.Response(301, headers={"Location": "https://elsewhere/"}),
     "HTTP 301"),
])
async def test_a_refusal_is_a_failed_attempt(rig: Rig, handler: Handler, error: str) -> None:
    stored = await rig.send(await rig.delivery(), handler)
    assert (stored.status, stored.last_error, stored.attempts) == (JobStatus.PENDING, error, 1)
    assert stored.run_at > stored.updated_at  # backing off


async def test_a_timeout_or_a_refused_connection_is_a_failed_attempt(rig: Rig) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    stored = await rig.send(await rig.delivery(), hang)
    assert (stored.status, stored.last_error) == (JobStatus.PENDING, "timed out after 2 s")
    stored = await rig.send(await rig.delivery(), refuse)
    assert (stored.status, stored.last_error) == (JobStatus.PENDING,
                                                  "request failed: ConnectError")


@pytest.mark.parametrize("change", ["delete", "disable"])
async def test_a_gone_subscription_skips_its_pending_delivery(rig: Rig, change: str) -> None:
    delivery = await rig.delivery()
    if change == "delete":
        await rig.store.delete(rig.hook)
    else:
        await rig.store.set_enabled(rig.hook, False)

    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request for a gone subscription")

    stored = await rig.send(delivery, never)
    word = "deleted" if change == "delete" else "disabled"
    assert (stored.status, stored.result) == (JobStatus.SUCCEEDED, {"skipped": f"webhook {word}"})
