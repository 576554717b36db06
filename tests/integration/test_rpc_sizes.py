"""Large jobs over the worker protocol: every message the server sends stays within the size the
worker announced (and its own limit); results are bounded by the payload limit."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import grpc
import msgspec
import psycopg
import pytest

from quorra.core.jobs import JobStatus
from quorra.core.sizes import GRPC_DEFAULT_MESSAGE_BYTES
from quorra.rpc.batches import session_requests
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.integration.conftest import KEY, Replica
from tests.rpc_reads import next_message

Stub: TypeAlias = "pb_grpc.WorkerServiceAsyncStub"  # what WorkerServiceStub(aio channel) is
KIB = 1024
BIG = 900 * KIB  # under the default 1 MiB payload limit


def blob(size: int = BIG) -> bytes:
    return msgspec.json.encode({"blob": "x" * size})


async def enqueue_big(stub: Stub, count: int) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 8):  # 8 × 900 KiB per message: under the 10 MiB body limit
        specs = [pb.JobSpec(type="big", payload=blob()) for _ in range(min(8, count - start))]
        done = await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=specs), metadata=KEY)
        ids += [item.id for item in done.jobs]
    return ids


async def read_jobs(call: grpc.aio.StreamStreamCall[pb.SessionRequest, pb.SessionResponse],
                    count: int, budget: int) -> list[pb.Job]:
    got: list[pb.Job] = []
    for _ in range(count):  # each message carries at least one job
        response = await next_message(call, pb.SessionResponse, 10)
        assert response.ByteSize() <= budget or len(response.jobs) == 1
        got += response.jobs
        if len(got) >= count:
            break
    return got


async def read_outcomes(call: grpc.aio.StreamStreamCall[pb.SessionRequest, pb.SessionResponse],
                        count: int) -> list[pb.Outcome]:
    settled: list[pb.Outcome] = []
    for _ in range(count):
        settled += (await next_message(call, pb.SessionResponse, 10)).settled
        if len(settled) >= count:
            break
    return settled


@pytest.mark.parametrize("announced", [0, 1_500_000, 100])
async def test_session_cuts_large_batches_to_the_announced_size(
    stub: Stub, replica: Replica, announced: int
) -> None:
    """20 × 900 KiB is 18 MB: over the server's 10 MiB limit and the client's 4 MiB default
    in one message; cut, every job arrives (100 bytes announced: one job per message)."""
    ids = await enqueue_big(stub, 20)
    call = stub.Session(metadata=KEY)
    await call.write(pb.SessionRequest(open=pb.SessionOpen(
        worker_id="w", max_message_bytes=announced), credit=20))
    budget = announced or GRPC_DEFAULT_MESSAGE_BYTES
    got = await read_jobs(call, 20, budget)
    assert sorted(j.id for j in got) == sorted(ids)
    assert all(len(j.payload) == len(blob()) for j in got)
    # settle with large results, cut the way the worker SDK cuts them
    settlements = [pb.Settlement(job_id=j.id, lease_id=j.lease_id, success=True,
                                 result=blob()) for j in got]
    for done, _ in session_requests(settlements, [], GRPC_DEFAULT_MESSAGE_BYTES):
        await call.write(pb.SessionRequest(settlements=done))
    outcomes = await read_outcomes(call, 20)
    assert sorted(o.status for o in outcomes) == ["succeeded"] * 20
    await call.done_writing()
    job = await replica.runtime.service.get(uuid.UUID(ids[0]))
    assert job.status is JobStatus.SUCCEEDED and len(job.result["blob"]) == BIG


async def test_session_refuses_a_result_over_the_payload_limit(
    stub: Stub, replica: Replica
) -> None:
    (job_id,) = await enqueue_big(stub, 1)
    call = stub.Session(metadata=KEY)
    await call.write(pb.SessionRequest(open=pb.SessionOpen(worker_id="w"), credit=1))
    (job,) = await read_jobs(call, 1, GRPC_DEFAULT_MESSAGE_BYTES)
    await call.write(pb.SessionRequest(settlements=[pb.Settlement(
        job_id=job.id, lease_id=job.lease_id, success=True, result=blob(1100 * KIB))]))
    (outcome,) = await read_outcomes(call, 1)
    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert outcome.message.startswith("result:") and "over the limit" in outcome.message
    stored = await replica.runtime.service.get(uuid.UUID(job_id))
    assert stored.status is JobStatus.LEASED and stored.result is None  # nothing stored
    await call.write(pb.SessionRequest(settlements=[pb.Settlement(
        job_id=job.id, lease_id=job.lease_id, error_message="result refused")]))
    (outcome,) = await read_outcomes(call, 1)
    assert outcome.status == "pending"
    await call.done_writing()


async def test_ack_job_refuses_a_result_over_the_payload_limit(
    stub: Stub, replica: Replica
) -> None:
    (job_id,) = await enqueue_big(stub, 1)
    (job,) = [j async for j in stub.LeaseJobs(pb.LeaseRequest(worker_id="w"), metadata=KEY)]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.AckJob(pb.JobAck(job_id=job_id, lease_id=job.lease_id, success=True,
                                    result=blob(1100 * KIB)), metadata=KEY)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith("result:")
    assert (await replica.runtime.service.get(uuid.UUID(job_id))).status is JobStatus.LEASED


async def test_lease_jobs_streams_large_jobs_to_a_default_client(stub: Stub) -> None:
    """One job per message: 12 × 900 KiB reach a client with gRPC's default 4 MiB limit."""
    ids = await enqueue_big(stub, 12)
    got = [j async for j in stub.LeaseJobs(pb.LeaseRequest(worker_id="w", max_jobs=12),
                                           metadata=KEY)]
    assert sorted(j.id for j in got) == sorted(ids)


async def test_get_job_with_large_payload_and_result(stub: Stub, clean_db: str) -> None:
    (job_id,) = await enqueue_big(stub, 1)
    (job,) = [j async for j in stub.LeaseJobs(pb.LeaseRequest(worker_id="w"), metadata=KEY)]
    await stub.AckJob(pb.JobAck(job_id=job_id, lease_id=job.lease_id, success=True,
                                result=blob()), metadata=KEY)
    got = await stub.GetJob(pb.GetJobRequest(id=job_id), metadata=KEY)  # 1.8 MB < 4 MiB
    assert got.status == "succeeded" and len(got.result) == len(blob())
    # a result stored before results were bounded: a clear refusal, not a transport error
    huge = msgspec.json.encode({"blob": "y" * (11 * 1024 * KIB)}).decode()
    async with await psycopg.AsyncConnection.connect(clean_db, autocommit=True) as conn:
        await conn.execute("UPDATE quorra_jobs SET result = %s::jsonb WHERE id = %s",
                           (huge, job_id))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetJob(pb.GetJobRequest(id=job_id), metadata=KEY)
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "GET /v1/jobs" in (info.value.details() or "")
