"""A producer-chosen job id (``id``) over both front doors: stored once, a repeat answers the
stored job; a bad id names the field."""

from __future__ import annotations

import uuid

import httpx

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.integration.conftest import KEY


async def test_rest_id_is_stored_once(client: httpx.AsyncClient) -> None:
    job_id = str(uuid.uuid4())
    first = await client.post("/v1/jobs", json={"type": "t", "queue": "ids", "id": job_id})
    again = await client.post("/v1/jobs", json={"type": "t", "queue": "ids", "id": job_id})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] == job_id
    assert "created" not in first.json() and again.json()["created"] is False
    queues = (await client.get("/v1/queues")).json()["queues"]
    assert [q["count"] for q in queues if q["queue"] == "ids"] == [1]
    bad = await client.post("/v1/jobs", json={"type": "t", "id": "nope"})
    assert bad.status_code == 400 and "id" in bad.json()["error"]


async def test_grpc_id_is_stored_once_and_get_job(stub: pb_grpc.WorkerServiceAsyncStub) -> None:
    spec = pb.JobSpec(type="t", queue="ids", payload=b'{"a": 1}', id=str(uuid.uuid4()))
    first = await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[spec, spec]), metadata=KEY)
    again = await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[spec]), metadata=KEY)
    assert {j.id for j in first.jobs} == {j.id for j in again.jobs} == {spec.id}
    job = await stub.GetJob(pb.GetJobRequest(id=spec.id), metadata=KEY)
    assert (job.id, job.status, job.queue, job.payload) == (spec.id, "pending", "ids",
                                                            b'{"a":1}')
    assert job.HasField("updated_at") and not job.HasField("finished_at")
