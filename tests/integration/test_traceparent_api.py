"""The producer's ``traceparent`` at the front doors: REST (body field, ``traceparent`` header,
single and batch) and gRPC (``JobSpec.traceparent``, ``traceparent`` metadata). Stored in its
version-00 form, shown by GET and handed to the lessee; a malformed value is a 400 /
INVALID_ARGUMENT naming it, and nothing is stored."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc
import httpx
import pytest

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.integration.conftest import KEY, Replica

Stub: TypeAlias = "pb_grpc.WorkerServiceAsyncStub"  # what WorkerServiceStub(aio channel) is

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
GOOD = f"00-{TRACE}-{PARENT}-01"
OTHER = f"00-{'1' * 32}-{'2' * 16}-00"
BAD: list[Any] = [
    "", "junk", f"00-{TRACE}-{PARENT}", f"00-{TRACE.upper()}-{PARENT}-01",
    f"ff-{TRACE}-{PARENT}-01", f"00-{'0' * 32}-{PARENT}-01", f"00-{TRACE}-{'0' * 16}-01",
    f"00-{TRACE}-{PARENT}-01-extra", f"0-{TRACE}-{PARENT}-01", f"00-{TRACE}-{PARENT}-01x",
    f"01-{TRACE}-{PARENT}-01-" + "x" * 600,
]


async def stored(client: httpx.AsyncClient) -> int:
    answer = await client.get("/v1/queues")
    return sum(row["count"] for row in answer.json()["queues"])


async def traceparent_of(client: httpx.AsyncClient, job_id: str) -> str | None:
    found: str | None = (await client.get(f"/v1/jobs/{job_id}")).json().get("traceparent")
    return found


class TestRest:
    async def test_body_field_and_header_are_stored(self, client: httpx.AsyncClient) -> None:
        own = await client.post("/v1/jobs", json={"type": "t", "traceparent": GOOD})
        header = await client.post("/v1/jobs", json={"type": "t"},
                                   headers={"traceparent": OTHER})
        both = await client.post("/v1/jobs", json={"type": "t", "traceparent": GOOD},
                                 headers={"traceparent": OTHER})
        plain = await client.post("/v1/jobs", json={"type": "t"})
        assert [a.status_code for a in (own, header, both, plain)] == [201] * 4
        found = [await traceparent_of(client, a.json()["id"]) for a in (own, header, both, plain)]
        assert found == [GOOD, OTHER, GOOD, None]  # the job's own field wins over the header

    async def test_batch_takes_the_header_for_jobs_without_one(
            self, client: httpx.AsyncClient) -> None:
        answer = await client.post("/v1/jobs/batch", headers={"traceparent": OTHER},
                                   json={"jobs": [{"type": "t"}, {"type": "t",
                                                                  "traceparent": GOOD}]})
        assert answer.status_code == 201, answer.text
        ids = [job["id"] for job in answer.json()["jobs"]]
        assert [await traceparent_of(client, i) for i in ids] == [OTHER, GOOD]

    async def test_a_later_version_is_stored_as_00(self, client: httpx.AsyncClient) -> None:
        answer = await client.post("/v1/jobs", json={"type": "t"},
                                   headers={"traceparent": f"01-{TRACE}-{PARENT}-03-future"})
        assert answer.status_code == 201, answer.text
        assert await traceparent_of(client, answer.json()["id"]) == f"00-{TRACE}-{PARENT}-03"

    @pytest.mark.parametrize("value", [*BAD, 5, None])
    async def test_bad_body_field_is_400(self, client: httpx.AsyncClient, value: Any) -> None:
        answer = await client.post("/v1/jobs/batch", json={"jobs": [
            {"type": "t"}, {"type": "t", "traceparent": value}]})
        if value is None:  # null: none given
            assert answer.status_code == 201
            return
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"] == "jobs[1].traceparent"
        assert "error" in answer.json()
        assert await stored(client) == 0

    @pytest.mark.parametrize("value", [v for v in BAD if v])
    async def test_bad_header_is_400(self, client: httpx.AsyncClient, value: str) -> None:
        for path, body in (("/v1/jobs", {"type": "t"}),
                           ("/v1/jobs/batch", {"jobs": [{"type": "t"}]})):
            answer = await client.post(path, json=body, headers={"traceparent": value})
            assert answer.status_code == 400, answer.text
            assert answer.json()["field"] == "header traceparent"
        assert await stored(client) == 0


async def test_openapi_documents_the_field_and_the_header(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    for path in ("/v1/jobs", "/v1/jobs/batch"):
        post = spec["paths"][path]["post"]
        (header,) = [p for p in post.get("parameters", []) if p["name"] == "traceparent"]
        assert header["in"] == "header" and not header.get("required")
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert "traceparent" in body["schema"]["properties"]


class TestGrpc:
    async def test_field_and_metadata_reach_the_lessee(self, stub: Stub) -> None:
        done = await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[
            pb.JobSpec(type="t", traceparent=GOOD), pb.JobSpec(type="t")]),
            metadata=(*KEY, ("traceparent", OTHER)))
        leased = [j async for j in stub.LeaseJobs(pb.LeaseRequest(max_jobs=10), metadata=KEY)]
        by_id = {job.id: job.traceparent for job in leased}
        assert [by_id[item.id] for item in done.jobs] == [GOOD, OTHER]
        detail = await stub.GetJob(pb.GetJobRequest(id=done.jobs[0].id), metadata=KEY)
        assert detail.traceparent == GOOD

    @pytest.mark.parametrize("value", [v for v in BAD if v])
    async def test_bad_field_is_invalid_argument(self, stub: Stub, replica: Replica,
                                                 value: str) -> None:
        request = pb.EnqueueJobsRequest(jobs=[pb.JobSpec(type="fine"),
                                              pb.JobSpec(type="t", traceparent=value)])
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.EnqueueJobs(request, metadata=KEY)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "jobs[1].traceparent" in (info.value.details() or "")
        assert await replica.runtime.service.queue_counts() == []

    @pytest.mark.parametrize("value", ["junk", f"ff-{TRACE}-{PARENT}-01"])
    async def test_bad_metadata_is_invalid_argument(self, stub: Stub, replica: Replica,
                                                    value: str) -> None:
        request = pb.EnqueueJobsRequest(jobs=[pb.JobSpec(type="t")])
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.EnqueueJobs(request, metadata=(*KEY, ("traceparent", value)))
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "metadata traceparent" in (info.value.details() or "")
        assert await replica.runtime.service.queue_counts() == []
