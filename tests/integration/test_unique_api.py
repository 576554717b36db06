"""Unique jobs through the front doors: REST answers a duplicate ``200`` with the job holding
the key and ``"duplicate": true`` (batch: per job), gRPC sets ``Enqueued.duplicate``; the key is
shown by ``GET /v1/jobs/{id}`` and ``GetJob``; bad keys and windows are a 400 / INVALID_ARGUMENT
naming the field, and store nothing."""

from __future__ import annotations

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


async def test_rest_duplicate_is_200_with_the_holder(client: Client) -> None:
    first = await client.post("/v1/jobs", json={"type": "t", "unique_key": "order-1"})
    assert first.status_code == 201 and "duplicate" not in first.json()
    again = await client.post("/v1/jobs", json={"type": "t", "unique_key": "order-1",
                                                "payload": {"other": True}})
    assert again.status_code == 200
    body = again.json()
    assert body["duplicate"] is True and body["created"] is False
    assert body["id"] == first.json()["id"] and body["status"] == "pending"
    job = (await client.get(f"/v1/jobs/{body['id']}")).json()
    assert job["unique_key"] == "order-1" and job["payload"] == {}
    assert await count_jobs(client) == 1


async def test_rest_window_and_batch_flags(client: Client) -> None:
    jobs = [{"type": "a", "unique_key": "k", "unique_for_seconds": 60},
            {"type": "b", "unique_key": "k"}, {"type": "c"}]
    answer = await client.post("/v1/jobs/batch", json={"jobs": jobs})
    assert answer.status_code == 201
    done = answer.json()["jobs"]
    assert [d.get("duplicate", False) for d in done] == [False, True, False]
    assert done[1]["id"] == done[0]["id"]
    again = await client.post("/v1/jobs/batch", json={"jobs": jobs[:1]})
    assert again.json()["jobs"][0]["duplicate"] is True
    assert await count_jobs(client) == 2
    plain = (await client.get(f"/v1/jobs/{done[2]['id']}")).json()
    assert "unique_key" not in plain


async def test_metrics_count_duplicates(client: Client) -> None:
    for _ in range(3):
        await client.post("/v1/jobs", json={"type": "t", "queue": "mq", "unique_key": "k"})
    metrics = (await client.get("/metrics")).text
    assert 'quorra_jobs_deduplicated_total{queue="mq"} 2.0' in metrics


BAD: list[tuple[dict[str, Any], str]] = [
    ({"unique_key": ""}, "unique_key"),
    ({"unique_key": "x" * 256}, "unique_key"),
    ({"unique_key": "a\u0000b"}, "unique_key"),
    ({"unique_key": 5}, "unique_key"),
    ({"unique_key": ["k"]}, "unique_key"),
    ({"unique_key": "k", "unique_for_seconds": -1}, "unique_for_seconds"),
    ({"unique_key": "k", "unique_for_seconds": 0}, "unique_for_seconds"),
    ({"unique_key": "k", "unique_for_seconds": 366 * 86400 + 1}, "unique_for_seconds"),
    ({"unique_key": "k", "unique_for_seconds": "60"}, "unique_for_seconds"),
    ({"unique_for_seconds": 60}, "unique_for_seconds"),
]


@pytest.mark.parametrize(("fields", "field"), BAD)
async def test_rest_bad_input_is_400_naming_the_field(client: Client, fields: dict[str, Any],
                                                      field: str) -> None:
    one = await client.post("/v1/jobs", json={"type": "t", **fields})
    assert one.status_code == 400, one.text
    assert one.json()["field"] == field
    batch = await client.post("/v1/jobs/batch", json={"jobs": [{"type": "ok"},
                                                               {"type": "t", **fields}]})
    assert batch.status_code == 400 and batch.json()["field"] == f"jobs[1].{field}"
    assert await count_jobs(client) == 0


async def test_longest_key_is_accepted(client: Client) -> None:
    answer = await client.post("/v1/jobs", json={"type": "t", "unique_key": "é" * 255,
                                                 "unique_for_seconds": 366 * 86400})
    assert answer.status_code == 201


async def test_grpc_duplicate_flag_and_get_job(stub: pb_grpc.WorkerServiceAsyncStub) -> None:
    specs = [pb.JobSpec(type="a", unique_key="g"), pb.JobSpec(type="b", unique_key="g"),
             pb.JobSpec(type="c", unique_key="w", unique_for_seconds=30)]
    done = (await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=specs), metadata=KEY)).jobs
    assert [d.duplicate for d in done] == [False, True, False]
    assert done[1].id == done[0].id
    (again,) = (await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=specs[2:]),
                                       metadata=KEY)).jobs
    assert again.duplicate and again.id == done[2].id
    job = await stub.GetJob(pb.GetJobRequest(id=done[0].id), metadata=KEY)
    assert job.unique_key == "g"


@pytest.mark.parametrize(("spec", "field"), [
    (pb.JobSpec(type="t", unique_key="x" * 256), "jobs[0].unique_key"),
    (pb.JobSpec(type="t", unique_key="k", unique_for_seconds=-1), "jobs[0].unique_for_seconds"),
    (pb.JobSpec(type="t", unique_key="k", unique_for_seconds=float("nan")),
     "jobs[0].unique_for_seconds"),
    (pb.JobSpec(type="t", unique_for_seconds=5), "jobs[0].unique_for_seconds"),
])
async def test_grpc_bad_input(stub: pb_grpc.WorkerServiceAsyncStub, spec: pb.JobSpec,
                              field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[spec]), metadata=KEY)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in (caught.value.details() or "")
