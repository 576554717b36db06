"""What a careless or hostile worker or producer sends over gRPC: each bad field is an
``INVALID_ARGUMENT`` naming it, nothing is stored, and one bad item fails only itself."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, TypeAlias

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from quorra.core.jobs import JobStatus
from quorra.core.spec import MAX_ERROR_CHARS
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.integration.conftest import KEY, Replica
from tests.integration.test_rpc import enqueue, status_of
from tests.rpc_reads import next_message

Stub: TypeAlias = "pb_grpc.WorkerServiceAsyncStub"  # what WorkerServiceStub(aio channel) is


async def session_error(stub: Stub, *requests: pb.SessionRequest) -> grpc.aio.AioRpcError:
    """Send ``requests`` on a new session; the error that ends it."""
    call = stub.Session(metadata=KEY)
    for request in requests:
        await call.write(request)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _read_until_error(call)
    return info.value


async def _read_until_error(call: Any) -> None:
    for _ in range(100):
        await asyncio.wait_for(call.read(), 10)


async def leased(stub: Stub, count: int) -> tuple[Any, list[pb.Job]]:
    call = stub.Session(metadata=KEY)
    await call.write(pb.SessionRequest(open=pb.SessionOpen(worker_id="w"), credit=count))
    got: list[pb.Job] = []
    while len(got) < count:
        got += (await next_message(call, pb.SessionResponse, 10)).jobs
    return call, got


async def outcomes(call: Any, count: int) -> dict[str, pb.Outcome]:
    settled: list[pb.Outcome] = []
    while len(settled) < count:
        settled += (await next_message(call, pb.SessionResponse, 10)).settled
    return {o.job_id: o for o in settled}


OPEN = pb.SessionOpen(worker_id="w")


@pytest.mark.parametrize(("open_", "field"), [
    (pb.SessionOpen(worker_id="w\x00"), "worker_id"),
    (pb.SessionOpen(worker_id="w" * 256), "worker_id"),
    (pb.SessionOpen(worker_id="w", queues=["ok", "bad queue"]), "queues[1]"),
    (pb.SessionOpen(worker_id="w", queues=[f"q{i}" for i in range(65)]), "queues"),
], ids=["NUL worker id", "long worker id", "bad queue name", "too many queues"])
async def test_session_open_is_validated(stub: Stub, open_: pb.SessionOpen, field: str) -> None:
    error = await session_error(stub, pb.SessionRequest(open=open_, credit=1))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in (error.details() or "")


async def test_lease_jobs_is_validated(stub: Stub) -> None:
    for request, field in [(pb.LeaseRequest(worker_id="w", queues=["a b"]), "queues[0]"),
                           (pb.LeaseRequest(worker_id="\x07"), "worker_id")]:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            _ = [job async for job in stub.LeaseJobs(request, metadata=KEY)]
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field in (info.value.details() or "")


async def test_credit_is_bounded(stub: Stub) -> None:
    error = await session_error(stub, pb.SessionRequest(open=OPEN, credit=6000),
                                pb.SessionRequest(credit=6000))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "credit" in (error.details() or "") and "10000" in (error.details() or "")


async def test_settlements_per_message_are_bounded(stub: Stub) -> None:
    items = [pb.Settlement(job_id=str(uuid.uuid4()), lease_id=str(uuid.uuid4()), success=True)
             for _ in range(1001)]
    error = await session_error(stub, pb.SessionRequest(open=OPEN),
                                pb.SessionRequest(settlements=items))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "settlements" in (error.details() or "")


async def test_a_poisoned_result_fails_only_its_own_ack(stub: Stub, replica: Replica) -> None:
    await enqueue(stub, "a", "b", "c")
    call, jobs = await leased(stub, 3)
    results = [b'{"x": "nul \\u0000"}', b"[" * 1000 + b"]" * 1000, b'{"fine": 1}']
    await call.write(pb.SessionRequest(settlements=[
        pb.Settlement(job_id=j.id, lease_id=j.lease_id, success=True, result=r)
        for j, r in zip(jobs, results, strict=True)]))
    by_job = await outcomes(call, 3)
    for job in jobs[:2]:
        assert by_job[job.id].code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "result" in by_job[job.id].message
        assert (await status_of(replica, job.id))[0] is JobStatus.LEASED
    assert by_job[jobs[2].id].status == "succeeded"


async def test_error_messages_are_cleaned_and_cut(stub: Stub, replica: Replica) -> None:
    await enqueue(stub, "a", max_retries=0)
    call, (job,) = await leased(stub, 1)
    await call.write(pb.SessionRequest(settlements=[pb.Settlement(
        job_id=job.id, lease_id=job.lease_id, error_message="bad\x00" + "e" * 10_000)]))
    assert (await outcomes(call, 1))[job.id].status == "dead"
    status, _, error = await status_of(replica, job.id)
    assert status is JobStatus.DEAD
    assert error is not None and error.startswith("bad\ufffdeee")
    assert len(error) == MAX_ERROR_CHARS


async def test_enqueue_of_bad_values_over_grpc(stub: Stub, replica: Replica) -> None:
    far = Timestamp(seconds=253402300799)  # 9999-12-31
    cases = [(pb.JobSpec(type="t", payload=b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b"}"),
              "jobs[0].payload"),
             (pb.JobSpec(type="t", payload=b'{"a": "\\u0000"}'), "jobs[0].payload"),
             (pb.JobSpec(type="t", run_at=far), "jobs[0].run_at")]
    for spec, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[spec]), metadata=KEY)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field in (info.value.details() or ""), info.value.details()
    assert await replica.runtime.service.queue_counts() == []


async def test_one_message_does_not_flood_the_store(
    stub: Stub, replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = replica.runtime.service
    real, busy, peak = service.nack, [0], [0]

    async def counted(*args: Any, **kwargs: Any) -> Any:
        busy[0] += 1
        peak[0] = max(peak[0], busy[0])
        try:
            return await real(*args, **kwargs)
        finally:
            busy[0] -= 1

    monkeypatch.setattr(service, "nack", counted)
    await enqueue(stub, *["n"] * 100)
    call, jobs = await leased(stub, 100)
    await call.write(pb.SessionRequest(settlements=[
        pb.Settlement(job_id=j.id, lease_id=j.lease_id, error_message="x") for j in jobs]))
    by_job = await outcomes(call, 100)
    assert {o.status for o in by_job.values()} == {"pending"}
    assert 1 < peak[0] <= 8


async def test_credit_for_slots_freed_by_settlements_still_committing_is_allowed(
    clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound counts the jobs a worker holds: those it settled are free slots even while
    their commit is slow (a busy store), so asking for their replacements is not over it."""
    from quorra.bootstrap import running
    from quorra.core.spec import Limits
    from tests.integration.conftest import settings_for

    settings = settings_for(clean_db, limits=Limits(max_session_credit=10))
    async with running(settings) as runtime:
        service, slow = runtime.service, asyncio.Event()
        ack_many = service.ack_many

        async def committing_slowly(*args: Any, **kwargs: Any) -> Any:
            await slow.wait()
            return await ack_many(*args, **kwargs)

        monkeypatch.setattr(service, "ack_many", committing_slowly)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.rpc.port}") as channel:
            stub = pb_grpc.WorkerServiceStub(channel)
            await enqueue(stub, *["t"] * 20)
            call, jobs = await leased(stub, 10)
            await call.write(pb.SessionRequest(credit=10, settlements=[
                pb.Settlement(job_id=j.id, lease_id=j.lease_id, success=True) for j in jobs]))
            more: list[pb.Job] = []
            while len(more) < 10:  # the replacements come while the acks still wait
                more += (await asyncio.wait_for(call.read(), 10)).jobs
            slow.set()
            assert len(await outcomes(call, 10)) == 10
            await call.write(pb.SessionRequest(credit=1))  # 10 held + 1: over the bound
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _read_until_error(call)
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
