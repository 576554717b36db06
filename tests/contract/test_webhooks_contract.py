"""Webhook deliveries are made in the transaction of the outcome, whatever the driver (see
``conftest.HARNESSES``): ack (single and batched), nack to dead, expiry to dead and cancel each
leave a delivery job in ``_quorra.webhooks`` for every matching enabled subscription as soon as
the call returns, none otherwise; deliveries lease from that queue alone, and settling one makes
no delivery of its own."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from quorra.archive.webhooks import PostgresWebhooks
from quorra.core.jobs import Job, JobStatus
from quorra.core.webhooks import WEBHOOK_QUEUE, WebhookRequest, new_webhook
from tests.contract.conftest import Harness, spec

W = "worker-test"
URL = "https://example.test/hooks"


async def subscribe(url: str, events: list[str], *, queue: str | None = None,
                    type_: str | None = None, enabled: bool = True) -> str:
    from quorra.db.pool import create_pool

    pool = create_pool(url, max_size=1, timeout=5)
    await pool.open(wait=True)
    try:
        made = await PostgresWebhooks(pool).create(new_webhook(WebhookRequest(
            url=URL, events=events, queue=queue, type=type_, enabled=enabled)))
    finally:
        await pool.close()
    return made.id


async def deliveries(url: str) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT payload, status, type, max_retries FROM quorra_jobs WHERE queue = %s "
            "ORDER BY created_at, id", (WEBHOOK_QUEUE,))
        return [{**row[0], "_status": row[1], "_type": row[2], "_retries": row[3]}
                for row in await cur.fetchall()]


async def run(h: Harness, queue: str = "default", type_: str = "task",
              max_retries: int = 3) -> Job:
    (done,) = await h.broker.enqueue([spec(type_, queue=queue, max_retries=max_retries)])
    (job,) = await h.broker.lease([queue], worker_id=W, limit=1, ttl=30)
    assert job.id == done.id and job.lease_id is not None
    return job


class TestWebhookDeliveries:
    async def test_ack_makes_one_delivery_per_matching_subscription(
            self, harness: Harness, clean_db: str) -> None:
        hook = await subscribe(clean_db, ["job.succeeded"], queue="mail.*")
        await subscribe(clean_db, ["job.dead"], queue="mail.*")  # another event: nothing
        job = await run(harness, "mail.out", "send")
        assert job.lease_id is not None
        await harness.broker.ack(job.id, job.lease_id, {"sent": 1})
        (made,) = await deliveries(clean_db)
        assert (made["webhook"], made["event"], made["_status"]) == (
            hook, "job.succeeded", "pending")
        assert made["_type"] == "quorra.webhook" and made["_retries"] == 10
        snapshot = made["job"]
        assert (snapshot["id"], snapshot["queue"], snapshot["type"], snapshot["status"]) == (
            str(job.id), "mail.out", "send", "succeeded")
        assert snapshot["result"] == {"sent": 1} and snapshot["attempts"] == 1

    async def test_batched_acks_filters_and_no_subscription(
            self, harness: Harness, clean_db: str) -> None:
        first = await run(harness, "plain")
        assert first.lease_id is not None
        await harness.broker.ack(first.id, first.lease_id)
        assert await deliveries(clean_db) == []  # no subscription: nothing
        await subscribe(clean_db, ["job.succeeded"], type_="report?")
        await subscribe(clean_db, ["job.succeeded"], enabled=False)
        jobs = [await run(harness, "plain", kind) for kind in ("report1", "report22", "reportX")]
        done = await harness.broker.ack_many([(j.id, j.lease_id, None) for j in jobs
                                              if j.lease_id is not None])
        assert len(done) == 3
        made = await deliveries(clean_db)
        assert sorted(m["job"]["type"] for m in made) == ["report1", "reportX"]

    async def test_dead_by_nack_and_by_expiry(self, harness: Harness, clean_db: str) -> None:
        await subscribe(clean_db, ["job.dead", "job.cancelled"])
        job = await run(harness, max_retries=1)
        assert job.lease_id is not None
        retried = await harness.broker.nack(job.id, job.lease_id, "first")
        assert retried.status is JobStatus.PENDING
        assert await deliveries(clean_db) == []  # a retry is no event
        hopeless = await run(harness, "other", max_retries=0)
        assert hopeless.lease_id is not None
        await harness.broker.nack(hopeless.id, hopeless.lease_id, "boom")
        expiring = await run(harness, "third", max_retries=0)
        await harness.expire_lease(expiring.id)
        assert [s.id for s in await harness.broker.reap_expired()] == [expiring.id]
        made = await deliveries(clean_db)
        assert [(m["event"], m["job"]["id"], m["job"]["last_error"]) for m in made] == [
            ("job.dead", str(hopeless.id), "boom"),
            ("job.dead", str(expiring.id), "lease expired")]

    async def test_cancel_pending_and_leased(self, harness: Harness, clean_db: str) -> None:
        await subscribe(clean_db, ["job.cancelled"])
        (waiting,) = await harness.broker.enqueue([spec(queue="later", delay_seconds=3600)])
        running = await run(harness)
        await harness.broker.cancel(waiting.id)
        await harness.broker.cancel(running.id)
        await harness.broker.cancel(running.id)  # already cancelled: no second event
        made = await deliveries(clean_db)
        assert [(m["event"], m["job"]["id"]) for m in made] == [
            ("job.cancelled", str(waiting.id)), ("job.cancelled", str(running.id))]

    @pytest.mark.parametrize("outcome", ["ack", "nack"])
    async def test_deliveries_lease_from_their_queue_only_and_make_none_of_their_own(
            self, harness: Harness, clean_db: str, outcome: str) -> None:
        await subscribe(clean_db, ["job.succeeded", "job.dead"])
        job = await run(harness)
        assert job.lease_id is not None
        await harness.broker.ack(job.id, job.lease_id)
        assert await harness.broker.lease(["default"], worker_id=W, limit=5, ttl=30) == []
        (delivery,) = await harness.broker.lease([WEBHOOK_QUEUE, "default"], worker_id=W,
                                                 limit=5, ttl=30)
        assert delivery.queue == WEBHOOK_QUEUE and delivery.lease_id is not None
        if outcome == "ack":
            await harness.broker.ack(delivery.id, delivery.lease_id, {"status": 200})
        else:
            await harness.broker.nack(delivery.id, delivery.lease_id, "HTTP 500", retry=False)
        made = await deliveries(clean_db)
        assert len(made) == 1 and made[0]["_status"] == (
            "succeeded" if outcome == "ack" else "dead")
        assert uuid.UUID(made[0]["job"]["id"]) == job.id
