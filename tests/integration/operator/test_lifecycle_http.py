"""Pause/resume over REST and the dashboard, the paused gauge, and retention by housekeeping
(batches, the deleted-jobs counter)."""

from __future__ import annotations

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from quorra.core.jobs import JobStatus
from quorra.scheduler import Housekeeping
from tests.contract.conftest import spec
from tests.integration.operator.conftest import API_KEY, Stack
from tests.integration.operator.test_dashboard_http import ORIGIN, log_in

Client = AsyncTestClient[Litestar]


async def test_pause_resume_and_queue_listing(stack: Stack, client: Client) -> None:
    await stack.service.enqueue([spec(queue="mail"), spec(queue="sms")])
    response = await client.post("/v1/queues/mail/pause")
    assert response.status_code == 200 and response.json() == {"queue": "mail", "paused": True}
    body = (await client.get("/v1/queues")).json()
    assert body["paused"] == ["mail"]
    assert {(q["queue"], q["status"], q["count"]) for q in body["queues"]} == {
        ("mail", "pending", 1), ("sms", "pending", 1)}
    assert await stack.service.lease(["mail", "sms"], worker_id="w", limit=5) != []
    assert await stack.service.lease(["mail"], worker_id="w", limit=5) == []
    created = await client.post("/v1/jobs", json={"type": "t", "queue": "mail"})
    assert created.status_code == 201  # enqueues are still accepted
    response = await client.post("/v1/queues/mail/resume")
    assert response.status_code == 200 and response.json() == {"queue": "mail", "paused": False}
    assert (await client.get("/v1/queues")).json()["paused"] == []
    assert len(await stack.service.lease(["mail"], worker_id="w", limit=5)) == 2


@pytest.mark.parametrize(("path", "status", "field"), [
    ("/v1/queues/nobody/pause", 404, None),
    ("/v1/queues/nobody/resume", 404, None),
    ("/v1/queues/bad%20name/pause", 400, "queue"),
    ("/v1/queues/-dash/resume", 400, "queue"),
    ("/v1/queues/" + "x" * 129 + "/pause", 400, "queue"),
])
async def test_bad_queue_names_are_4xx_json(client: Client, path: str, status: int,
                                            field: str | None) -> None:
    response = await client.post(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] and response.json().get("field") == field


async def test_pause_needs_the_api_key(stack: Stack) -> None:
    await stack.service.enqueue([spec(queue="mail")])
    async with AsyncTestClient(app=stack.app) as anonymous:
        response = await anonymous.post("/v1/queues/mail/pause")
        assert response.status_code == 401 and response.json()["error"]
    assert await stack.service.paused_queues() == []


async def test_routes_are_in_the_openapi_schema(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    for action in ("pause", "resume"):
        operation = schema["paths"][f"/v1/queues/{{queue}}/{action}"]["post"]
        assert {"200", "400", "401", "404"} <= set(operation["responses"])
    assert "paused" in schema["components"]["schemas"]["QueueList"]["properties"]


async def test_dashboard_pause_button_needs_csrf(stack: Stack) -> None:
    await stack.service.enqueue([spec(queue="mail")])
    async with AsyncTestClient(app=stack.app) as client:
        token = await log_in(client)
        forged = await client.post("/dashboard/api/queues/mail/pause", headers={"Origin": ORIGIN})
        assert forged.status_code == 403
        headers = {"X-CSRF-Token": token}
        assert (await client.post("/dashboard/api/queues/mail/pause",
                                  headers=headers)).status_code == 200
        rows = (await client.get("/dashboard/api/overview")).json()["queues"]
        assert [(r["queue"], r["paused"]) for r in rows] == [("mail", True)]
        assert (await client.post("/dashboard/api/queues/mail/resume",
                                  headers=headers)).status_code == 200
        rows = (await client.get("/dashboard/api/overview")).json()["queues"]
        assert [(r["queue"], r["paused"]) for r in rows] == [("mail", False)]
        page = await client.get("/dashboard")
        assert API_KEY not in page.text


async def test_paused_gauge(stack: Stack) -> None:
    await stack.service.enqueue([spec(queue="mail"), spec(queue="sms")])
    await stack.service.set_paused("mail", True)
    value = stack.registry.get_sample_value
    assert value("quorra_queue_paused", {"queue": "mail"}) == 1
    await stack.service.set_paused("mail", False)
    assert value("quorra_queue_paused", {"queue": "mail"}) == 0
    await stack.service.set_paused("sms", True)
    stack.metrics.queue_paused.clear()
    await stack.service.refresh_queue_gauge()  # from the store, as every replica reads it
    assert value("quorra_queue_paused", {"queue": "sms"}) == 1
    assert value("quorra_queue_paused", {"queue": "mail"}) == 0


async def _finish(stack: Stack, n: int, *, dead: bool = False) -> None:
    await stack.service.enqueue([spec(queue="r", max_retries=0) for _ in range(n)])
    for job in await stack.service.lease(["r"], worker_id="w", limit=n):
        assert job.lease_id is not None
        if dead:
            await stack.service.nack(job.id, job.lease_id, "boom")
        else:
            await stack.service.ack(job.id, job.lease_id)


async def test_housekeeping_deletes_in_bounded_batches(stack: Stack,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import quorra.scheduler.housekeeping as housekeeping

    monkeypatch.setattr(housekeeping, "RETENTION_BATCH", 2)
    monkeypatch.setattr(housekeeping, "RETENTION_MAX_BATCHES", 2)
    await _finish(stack, 7)
    await _finish(stack, 1, dead=True)
    async with await psycopg.AsyncConnection.connect(stack.url, autocommit=True) as conn:
        await conn.execute("UPDATE quorra_jobs SET finished_at = now() - interval '2 hours'")
    chores = Housekeeping(stack.service, retention={
        JobStatus.SUCCEEDED: 3600.0, JobStatus.CANCELLED: 3600.0, JobStatus.DEAD: 0.0})
    assert await chores.purge() == 4  # 2 statements of 2 rows; the rest waits for a tick
    assert await chores.purge() == 3
    assert await chores.purge() == 0
    value = stack.registry.get_sample_value
    assert value("quorra_jobs_deleted_total", {"status": "succeeded"}) == 7
    assert value("quorra_jobs_deleted_total", {"status": "dead"}) is None  # dead: kept forever
    counts = {(c.queue, c.status): c.count for c in await stack.service.queue_counts()}
    assert counts == {("r", JobStatus.DEAD): 1}
