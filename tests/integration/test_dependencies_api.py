"""Job dependencies through the front doors: ``depends_on`` on ``POST /v1/jobs`` and in batch
items (parents in the same batch by client-made ids), ``blocked`` in answers, ``GET
/v1/queues`` and the gauges, ``depends_on``/``dependents`` on the job's page (REST, gRPC
``GetJob``, dashboard), the unblocked counter, and bad graphs as a 400 / INVALID_ARGUMENT naming
the field with nothing stored."""

from __future__ import annotations

import re
import uuid
from typing import Any

import grpc
import httpx
import pytest

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.integration.conftest import KEY

Client = httpx.AsyncClient


async def count_jobs(client: Client) -> int:
    body = (await client.get("/v1/queues")).json()
    return sum(q["count"] for q in body["queues"])


async def test_batch_with_parents_and_the_job_page(client: Client) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    answer = await client.post("/v1/jobs/batch", json={"jobs": [
        {"type": "b", "id": b, "queue": "dq", "depends_on": [a], "priority": 7},
        {"type": "a", "id": a, "queue": "dq"}]})
    assert answer.status_code == 201, answer.text
    assert [j["status"] for j in answer.json()["jobs"]] == ["blocked", "pending"]
    child = (await client.get(f"/v1/jobs/{b}")).json()
    assert child["status"] == "blocked" and child["depends_on"] == [a]
    assert "dependents" not in child
    parent = (await client.get(f"/v1/jobs/{a}")).json()
    assert parent["dependents"] == [b]
    assert parent["priority"] == 7  # inherited from the job awaiting it
    queues = (await client.get("/v1/queues")).json()["queues"]
    assert {(q["queue"], q["status"], q["count"]) for q in queues} == {
        ("dq", "blocked", 1), ("dq", "pending", 1)}
    single = await client.post("/v1/jobs", json={"type": "c", "queue": "dq",
                                                  "depends_on": [a, b]})
    assert single.status_code == 201 and single.json()["status"] == "blocked"
    listed = (await client.get("/v1/jobs", params={"status": "blocked"})).json()["jobs"]
    assert len(listed) == 2


async def test_dashboard_job_page_links_parents_and_children(client: Client) -> None:
    a = (await client.post("/v1/jobs", json={"type": "a"})).json()["id"]
    b = (await client.post("/v1/jobs", json={"type": "<b>", "depends_on": [a]})).json()["id"]
    form = (await client.get("/dashboard/login")).text
    nonce = re.search(r'name="nonce" value="([^"]+)"', form)
    assert nonce is not None
    login = await client.post("/dashboard/login", data={"nonce": nonce[1],
                                                        "api_key": KEY[0][1]})
    assert login.status_code in (200, 303), login.text
    page = (await client.get(f"/dashboard/jobs/{a}")).text
    assert f'<a href="/dashboard/jobs/{b}">' in page
    page = (await client.get(f"/dashboard/jobs/{b}")).text
    assert f'<a href="/dashboard/jobs/{a}">' in page and "&lt;b&gt;" in page


def _bad(a: str) -> list[tuple[Any, str]]:
    return [
        ([str(uuid.uuid4())], "depends_on"),  # unknown
        ([a, a], "depends_on"),
        ([str(uuid.uuid4()) for _ in range(101)], "depends_on"),
        ("not-a-list", "depends_on"),
        (["not-a-uuid"], "depends_on[0]"),
    ]


async def test_bad_parents_are_400_and_store_nothing(client: Client) -> None:
    a = (await client.post("/v1/jobs", json={"type": "a"})).json()["id"]
    for depends_on, field in _bad(a):
        one = await client.post("/v1/jobs", json={"type": "t", "depends_on": depends_on})
        assert one.status_code == 400, (depends_on, one.text)
        assert one.json()["field"] == field, one.json()
        batch = await client.post("/v1/jobs/batch", json={"jobs": [
            {"type": "ok"}, {"type": "t", "depends_on": depends_on}]})
        assert batch.status_code == 400, batch.text
        assert batch.json()["field"] in (field, f"jobs[1].{field}"), batch.json()
    me = str(uuid.uuid4())
    own = await client.post("/v1/jobs", json={"type": "t", "id": me, "depends_on": [me]})
    assert own.status_code == 400 and own.json()["field"] == "depends_on"
    x, y = str(uuid.uuid4()), str(uuid.uuid4())
    cycle = await client.post("/v1/jobs/batch", json={"jobs": [
        {"type": "x", "id": x, "depends_on": [y]}, {"type": "y", "id": y, "depends_on": [x]}]})
    assert cycle.status_code == 400 and cycle.json()["field"].endswith("depends_on")
    assert "cycle" in cycle.json()["error"]
    assert await count_jobs(client) == 1


async def test_unblocked_counter_and_cancel_cascade(client: Client) -> None:
    a = (await client.post("/v1/jobs", json={"type": "a", "queue": "uq"})).json()["id"]
    b = (await client.post("/v1/jobs", json={"type": "b", "queue": "uq",
                                              "depends_on": [a]})).json()["id"]
    assert (await client.post(f"/v1/jobs/{a}/cancel")).status_code == 200
    child = (await client.get(f"/v1/jobs/{b}")).json()
    assert child["status"] == "cancelled" and child["last_error"] == \
        f"dependency {a} was cancelled"
    metrics = (await client.get("/metrics")).text
    assert "quorra_jobs_unblocked_total" in metrics


async def test_grpc_depends_on_and_get_job(stub: pb_grpc.WorkerServiceAsyncStub) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    specs = [pb.JobSpec(type="a", id=a), pb.JobSpec(type="b", id=b, depends_on=[a])]
    done = (await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=specs), metadata=KEY)).jobs
    assert [d.status for d in done] == ["pending", "blocked"]
    parent = await stub.GetJob(pb.GetJobRequest(id=a), metadata=KEY)
    assert list(parent.dependents) == [b]
    child = await stub.GetJob(pb.GetJobRequest(id=b), metadata=KEY)
    assert list(child.depends_on) == [a] and child.status == "blocked"


@pytest.mark.parametrize(("depends_on", "field"), [
    (["nope"], "jobs[0].depends_on[0]"),
    ([str(uuid.UUID(int=7))], "depends_on"),
])
async def test_grpc_bad_parents(stub: pb_grpc.WorkerServiceAsyncStub, depends_on: list[str],
                                field: str) -> None:
    spec = pb.JobSpec(type="t", depends_on=depends_on)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[spec]), metadata=KEY)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in (caught.value.details() or "")


async def test_blocked_job_cancel_and_deleted_parent(client: Client) -> None:
    a = (await client.post("/v1/jobs", json={"type": "a", "queue": "bq"})).json()["id"]
    b = (await client.post("/v1/jobs", json={"type": "b", "queue": "bq",
                                              "depends_on": [a]})).json()["id"]
    c = (await client.post("/v1/jobs", json={"type": "c", "queue": "bq",
                                              "depends_on": [a]})).json()["id"]
    d = (await client.post("/v1/jobs", json={"type": "d", "queue": "bq",
                                              "depends_on": [c]})).json()["id"]
    cancelled = await client.post(f"/v1/jobs/{b}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await client.delete(f"/v1/jobs/{a}")).status_code == 204
    for job_id, error in ((c, f"dependency {a} was deleted"),
                          (d, f"dependency {c} was cancelled")):
        job = (await client.get(f"/v1/jobs/{job_id}")).json()
        assert (job["status"], job["last_error"]) == ("cancelled", error)
    # the parent is gone: its dependents still read, naming it
    assert (await client.get(f"/v1/jobs/{b}")).json()["depends_on"] == [a]
    assert (await client.delete(f"/v1/jobs/{c}")).status_code == 204
    assert (await client.get(f"/v1/jobs/{d}")).json()["depends_on"] == [c]
