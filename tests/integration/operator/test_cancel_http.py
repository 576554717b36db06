"""Cancel over REST: one job (200, idempotent, 404, 409), in bulk by queue and type (400 for a
bad filter), the cancelled counter and the OpenAPI schema."""

from __future__ import annotations

import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from quorra.core.jobs import JobStatus
from tests.contract.conftest import spec
from tests.integration.operator.conftest import Stack

Client = AsyncTestClient[Litestar]


def _cancelled(stack: Stack, queue: str) -> float | None:
    return stack.registry.get_sample_value("quorra_jobs_cancelled_total", {"queue": queue})


async def test_cancel_pending_job_is_200_idempotent_and_counted(stack: Stack,
                                                                client: Client) -> None:
    (done,) = await stack.service.enqueue([spec(queue="mail")])
    response = await client.post(f"/v1/jobs/{done.id}/cancel")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"]) == (str(done.id), "cancelled") and body["finished_at"]
    again = await client.post(f"/v1/jobs/{done.id}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert _cancelled(stack, "mail") == 1.0  # the repeat is not counted
    assert await stack.service.lease(["mail"], worker_id="w", limit=5) == []


async def test_cancel_running_job_refuses_its_late_ack(stack: Stack, client: Client) -> None:
    (done,) = await stack.service.enqueue([spec()])
    told: list[tuple[uuid.UUID, uuid.UUID]] = []
    stack.service.on_cancel(lambda job, lease: told.append((job, lease)))
    (job,) = await stack.service.lease(["default"], worker_id="w", limit=1)
    assert job.lease_id is not None
    response = await client.post(f"/v1/jobs/{done.id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert "lease_id" not in response.json()
    assert told == [(job.id, job.lease_id)]
    from quorra.core.errors import LeaseLost
    with pytest.raises(LeaseLost):
        await stack.service.ack(job.id, job.lease_id)
    assert (await stack.service.get(done.id)).status is JobStatus.CANCELLED


async def test_cancel_unknown_is_404_and_finished_is_409(stack: Stack, client: Client) -> None:
    for path in (f"/v1/jobs/{uuid.uuid4()}/cancel", "/v1/jobs/not-a-uuid/cancel"):
        response = await client.post(path)
        assert response.status_code == 404 and response.json()["error"]
    (done,) = await stack.service.enqueue([spec()])
    (job,) = await stack.service.lease(["default"], worker_id="w", limit=1)
    assert job.lease_id is not None
    await stack.service.ack(job.id, job.lease_id)
    response = await client.post(f"/v1/jobs/{done.id}/cancel")
    assert response.status_code == 409 and "succeeded" in response.json()["error"]


async def test_bulk_cancel_by_queue_and_type(stack: Stack, client: Client) -> None:
    await stack.service.enqueue([spec("a", queue="q1") for _ in range(3)]
                                + [spec("b", queue="q1"), spec("a", queue="q2")])
    response = await client.post("/v1/jobs/cancel", json={"queue": "q1", "type": "a"})
    assert response.status_code == 200 and response.json() == {"cancelled": 3}
    response = await client.post("/v1/jobs/cancel", json={"type": "a"})
    assert response.json() == {"cancelled": 1}
    response = await client.post("/v1/jobs/cancel", json={"queue": "q1"})
    assert response.json() == {"cancelled": 1}
    assert (await client.post("/v1/jobs/cancel", json={"queue": "q1"})).json() == {
        "cancelled": 0}
    assert _cancelled(stack, "q1") == 4.0 and _cancelled(stack, "q2") == 1.0
    assert await stack.service.lease(["q1", "q2"], worker_id="w", limit=9) == []


@pytest.mark.parametrize(("body", "field"), [
    ({}, "queue"),
    ({"queue": "bad name"}, "queue"),
    ({"type": ""}, "type"),
    ({"queue": "q", "color": "red"}, None),
    ([], None),
])
async def test_bulk_cancel_bad_filters_are_400(client: Client, body: object,
                                               field: str | None) -> None:
    response = await client.post("/v1/jobs/cancel", json=body)
    assert response.status_code == 400, response.text
    if field is not None:
        assert response.json()["field"] == field


async def test_cancel_needs_the_api_key(stack: Stack) -> None:
    (done,) = await stack.service.enqueue([spec()])
    async with AsyncTestClient(app=stack.app) as anonymous:
        assert (await anonymous.post(f"/v1/jobs/{done.id}/cancel")).status_code == 401
        assert (await anonymous.post("/v1/jobs/cancel", json={"queue": "default"})
                ).status_code == 401
    assert (await stack.service.get(done.id)).status is JobStatus.PENDING


async def test_cancel_routes_are_in_the_openapi_schema(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    one = schema["paths"]["/v1/jobs/{job_id}/cancel"]["post"]
    assert {"200", "401", "404", "409"} <= set(one["responses"])
    bulk = schema["paths"]["/v1/jobs/cancel"]["post"]
    assert set(bulk["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {
        "queue", "type"}


async def test_dashboard_cancel_button_needs_csrf(stack: Stack) -> None:
    from tests.integration.operator.test_dashboard_http import ORIGIN, log_in

    (done,) = await stack.service.enqueue([spec(queue="mail")])
    async with AsyncTestClient(app=stack.app) as browser:
        token = await log_in(browser)
        page = (await browser.get(f"/dashboard/jobs/{done.id}")).text
        assert 'id="cancel"' in page
        path = f"/dashboard/api/jobs/{done.id}/cancel"
        assert (await browser.post(path, headers={"Origin": ORIGIN})).status_code == 403
        evil = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
        assert (await browser.post(path, headers=evil)).status_code == 403
        assert (await stack.service.get(done.id)).status is JobStatus.PENDING
        ok = await browser.post(path, headers={"X-CSRF-Token": token})
        assert ok.status_code == 200 and ok.json()["status"] == "cancelled"
        page = (await browser.get(f"/dashboard/jobs/{done.id}")).text
        assert 'id="cancel"' not in page and 'id="retry"' in page
