"""``GET /v1/jobs`` (filters, paging), retry, delete, retry-dead and workers over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from quorra.core.jobs import JobStatus
from tests.integration.operator.conftest import Stack

Client = AsyncTestClient[Litestar]


async def create(client: Client, **body: Any) -> str:
    response = await client.post("/v1/jobs", json={"type": "task", **body})
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


async def make_dead(stack: Stack, client: Client, queue: str = "default") -> str:
    job_id = await create(client, queue=queue, max_retries=0)
    (job,) = await stack.service.lease([queue], worker_id="w", limit=1)
    assert str(job.id) == job_id and job.lease_id is not None
    await stack.service.nack(job.id, job.lease_id, "boom")
    return job_id


async def test_list_filters_and_pages(client: Client) -> None:
    ids = [await create(client, type="odd" if i % 2 else "even", queue="qa" if i < 4 else "qb")
           for i in range(6)]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": "4"} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/v1/jobs", params=params)).json()
        seen += [job["id"] for job in body["jobs"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    body = (await client.get("/v1/jobs", params={"queue": "qa", "type": "odd"})).json()
    assert [j["id"] for j in body["jobs"]] == [ids[3], ids[1]]
    assert body["next_cursor"] is None
    assert body["jobs"][0]["queue"] == "qa" and body["jobs"][0]["status"] == "pending"
    body = (await client.get("/v1/jobs", params={"status": "dead"})).json()
    assert body == {"jobs": [], "next_cursor": None}


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "bogus"}, "status"), ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"),
    ({"limit": "x"}, "limit"), ({"cursor": "!!notacursor"}, "cursor"),
])
async def test_list_rejects_bad_input(client: Client, params: dict[str, str], field: str) -> None:
    response = await client.get("/v1/jobs", params=params)
    assert response.status_code == 400
    assert field in response.json()["error"]


async def test_retry_dead_job(stack: Stack, client: Client) -> None:
    job_id = await make_dead(stack, client)
    response = await client.post(f"/v1/jobs/{job_id}/retry")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["attempts"], body["last_error"]) == ("pending", 0, "boom")
    again = await client.post(f"/v1/jobs/{job_id}/retry")
    assert again.status_code == 409 and "error" in again.json()
    assert (await client.post(f"/v1/jobs/{uuid.uuid4()}/retry")).status_code == 404
    assert (await client.post("/v1/jobs/not-a-uuid/retry")).status_code == 404


async def test_delete(stack: Stack, client: Client) -> None:
    job_id = await create(client)
    assert (await client.delete(f"/v1/jobs/{job_id}")).status_code == 204
    assert (await client.get(f"/v1/jobs/{job_id}")).status_code == 404
    assert (await client.delete(f"/v1/jobs/{job_id}")).status_code == 404
    leased_id = await create(client)
    await stack.service.lease(["default"], worker_id="w", limit=1)
    response = await client.delete(f"/v1/jobs/{leased_id}")
    assert response.status_code == 409 and "error" in response.json()


async def test_retry_dead_per_queue(stack: Stack, client: Client) -> None:
    for _ in range(2):
        await make_dead(stack, client, "mail")
    other = await make_dead(stack, client, "sms")
    response = await client.post("/v1/queues/mail/retry-dead")
    assert (response.status_code, response.json()) == (200, {"retried": 2})
    assert (await client.get(f"/v1/jobs/{other}")).json()["status"] == JobStatus.DEAD


async def test_workers(stack: Stack, client: Client) -> None:
    assert (await client.get("/v1/workers")).json() == {"workers": []}
    stack.workers.connect("s1", "worker-7", ["default", "mail"])
    stack.workers.in_flight("s1", 3)
    (worker,) = (await client.get("/v1/workers")).json()["workers"]
    assert (worker["worker_id"], worker["queues"], worker["in_flight"]) == (
        "worker-7", ["default", "mail"], 3)
    assert set(worker) == {"worker_id", "queues", "in_flight", "connected_at", "last_seen",
                           "replica"}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/jobs"), ("POST", f"/v1/jobs/{uuid.uuid4()}/retry"),
    ("DELETE", f"/v1/jobs/{uuid.uuid4()}"), ("POST", "/v1/queues/default/retry-dead"),
    ("GET", "/v1/workers"),
])
async def test_routes_need_the_key(stack: Stack, method: str, path: str) -> None:
    async with AsyncTestClient(app=stack.app) as anonymous:
        response = await anonymous.request(method, path, headers={"X-API-Key": "wrong"})
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or missing API key"}


async def test_openapi_documents_the_routes(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert set(paths["/v1/jobs"]) >= {"get", "post"}
    assert set(paths["/v1/jobs/{job_id}"]) >= {"get", "delete"}
    retry = paths["/v1/jobs/{job_id}/retry"]["post"]["responses"]
    assert set(retry) >= {"200", "401", "404", "409", "503"}
    assert set(paths["/v1/jobs"]["get"]["responses"]) >= {"200", "400", "401", "503"}
    assert "/v1/queues/{queue}/retry-dead" in paths and "/v1/workers" in paths
    deleted = paths["/v1/jobs/{job_id}"]["delete"]["responses"]
    assert set(deleted) >= {"204", "401", "404", "409", "503"}
