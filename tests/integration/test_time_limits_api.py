"""Time limits at the front doors: ``timeout_seconds`` over REST (single and batch) and gRPC,
validated alike (a 400 / INVALID_ARGUMENT naming the field, nothing stored), the server's
default (``QUORRA_JOB_TIMEOUT``), what a lessee is told (timeout and deadline), extensions
clamped at the deadline, and the metric of timed-out attempts."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import grpc
import httpx
import pytest

from quorra.bootstrap import Runtime, running
from quorra.core.jobs import TIMED_OUT, JobStatus
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.integration.conftest import KEY, Replica, asgi_client, settings_for
from tests.support import eventually

Stub: TypeAlias = "pb_grpc.WorkerServiceAsyncStub"  # what WorkerServiceStub(aio channel) is

BAD_TIMEOUTS: list[Any] = [0, -1, 604801, 10**9, "5", True, "NoneType", [5]]


async def stored(client: httpx.AsyncClient) -> int:
    answer = await client.get("/v1/queues")
    return sum(row["count"] for row in answer.json()["queues"])


class TestRest:
    @pytest.mark.parametrize("value", BAD_TIMEOUTS)
    async def test_bad_timeout_is_400_naming_the_field(self, client: httpx.AsyncClient,
                                                       value: Any) -> None:
        answer = await client.post("/v1/jobs", json={"type": "t", "timeout_seconds": value})
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"] == "timeout_seconds", answer.json()
        assert await stored(client) == 0

    @pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"1e999"])
    async def test_non_finite_timeout_is_400(self, client: httpx.AsyncClient, raw: bytes) -> None:
        answer = await client.post("/v1/jobs", content=b'{"type": "t", "timeout_seconds": '
                                   + raw + b"}", headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert await stored(client) == 0

    async def test_bad_timeout_in_a_batch_stores_nothing(self, client: httpx.AsyncClient) -> None:
        body = {"jobs": [{"type": "t", "timeout_seconds": 5}, {"type": "t", "timeout_seconds": 0}]}
        answer = await client.post("/v1/jobs/batch", json=body)
        assert answer.status_code == 400
        assert answer.json()["field"] == "jobs[1].timeout_seconds"
        assert await stored(client) == 0

    async def test_timeout_is_stored_and_shown(self, client: httpx.AsyncClient) -> None:
        answer = await client.post("/v1/jobs", json={"type": "t", "timeout_seconds": 2.5})
        assert answer.status_code == 201, answer.text
        job = (await client.get(f"/v1/jobs/{answer.json()['id']}")).json()
        assert job["timeout_seconds"] == 2.5 and job.get("deadline") is None
        plain = await client.post("/v1/jobs", json={"type": "t"})
        assert (await client.get(f"/v1/jobs/{plain.json()['id']}")).json().get(
            "timeout_seconds") is None
        batch = await client.post("/v1/jobs/batch", json={"jobs": [
            {"type": "t", "timeout_seconds": 604800}]})
        assert batch.status_code == 201


@pytest.fixture
async def default_limited(clean_db: str) -> AsyncIterator[Runtime]:
    async with running(settings_for(clean_db, job_timeout=90.0)) as rt:
        yield rt


async def test_the_server_default_applies_to_jobs_without_a_limit(
        default_limited: Runtime) -> None:
    async with asgi_client(default_limited) as client:
        plain = await client.post("/v1/jobs", json={"type": "t"})
        own = await client.post("/v1/jobs", json={"type": "t", "timeout_seconds": 5})
        jobs = [(await client.get(f"/v1/jobs/{a.json()['id']}")).json() for a in (plain, own)]
    assert [j["timeout_seconds"] for j in jobs] == [90.0, 5.0]


class TestGrpc:
    @pytest.mark.parametrize("value", [0.0, -1.0, 604801.0, math.nan, math.inf])
    async def test_bad_timeout_is_invalid_argument(self, stub: Stub, replica: Replica,
                                                   value: float) -> None:
        request = pb.EnqueueJobsRequest(jobs=[pb.JobSpec(type="fine"),
                                              pb.JobSpec(type="t", timeout_seconds=value)])
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.EnqueueJobs(request, metadata=KEY)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "jobs[1].timeout_seconds" in (info.value.details() or "")
        assert await replica.runtime.service.queue_counts() == []

    async def test_lessee_gets_the_limit_and_extensions_stop_at_the_deadline(
            self, stub: Stub, replica: Replica) -> None:
        done = await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[
            pb.JobSpec(type="t", timeout_seconds=30)]), metadata=KEY)
        job_id = done.jobs[0].id
        (job,) = [j async for j in stub.LeaseJobs(pb.LeaseRequest(lease_ttl_seconds=600),
                                                  metadata=KEY)]
        assert job.timeout_seconds == 30 and job.HasField("deadline")
        deadline = job.deadline.ToDatetime()
        assert (deadline - job.leased_at.ToDatetime()).total_seconds() == 30
        assert job.lease_expires_at.ToDatetime() == deadline  # the 600 s TTL was cut
        reply = await stub.ExtendLease(pb.ExtendRequest(job_id=job_id, lease_id=job.lease_id,
                                                        lease_ttl_seconds=600), metadata=KEY)
        assert reply.lease_expires_at.ToDatetime() == deadline
        detail = await stub.GetJob(pb.GetJobRequest(id=job_id), metadata=KEY)
        assert detail.timeout_seconds == 30


async def test_a_lease_that_runs_to_the_deadline_is_counted_timed_out(
        stub: Stub, replica: Replica) -> None:
    done = await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[
        pb.JobSpec(type="t", timeout_seconds=0.5, max_retries=0)]), metadata=KEY)
    job_id = uuid.UUID(done.jobs[0].id)
    [_ async for _ in stub.LeaseJobs(pb.LeaseRequest(lease_ttl_seconds=60), metadata=KEY)]

    async def dead() -> bool:
        return (await replica.runtime.service.get(job_id)).status is JobStatus.DEAD

    await eventually(dead, timeout=10, what="the job to time out")
    assert (await replica.runtime.service.get(job_id)).last_error == TIMED_OUT
    async with asgi_client(replica.runtime) as client:
        metrics = (await client.get("/metrics")).text
    assert 'quorra_jobs_timed_out_total{queue="default"} 1.0' in metrics
