"""Cancel over gRPC: ``CancelJob`` for producers (status codes), and the ``Cancellation`` a
worker's session receives for a job it holds, from this replica or another one."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import grpc
import pytest

from quorra.bootstrap import running
from quorra.core.jobs import JobStatus
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.integration.conftest import KEY, Replica, settings_for
from tests.integration.test_rpc import enqueue
from tests.integration.test_rpc_hostile import leased as open_session
from tests.rpc_reads import next_message
from tests.support import eventually, listening

Stub: TypeAlias = "pb_grpc.WorkerServiceAsyncStub"  # what WorkerServiceStub(aio channel) is
Call = grpc.aio.StreamStreamCall[pb.SessionRequest, pb.SessionResponse]
LOST = grpc.StatusCode.FAILED_PRECONDITION.value[0]


async def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    return info.value.code()


class TestCancelJob:
    async def test_codes(self, stub: Stub, replica: Replica) -> None:
        (job_id,) = await enqueue(stub, "t")
        job = await stub.CancelJob(pb.CancelJobRequest(id=job_id), metadata=KEY)
        assert (job.id, job.status) == (job_id, "cancelled") and job.HasField("finished_at")
        again = await stub.CancelJob(pb.CancelJobRequest(id=job_id), metadata=KEY)
        assert again.status == "cancelled"
        assert await _code(stub.CancelJob(pb.CancelJobRequest(id=str(uuid.uuid4())),
                                          metadata=KEY)) is grpc.StatusCode.NOT_FOUND
        assert await _code(stub.CancelJob(pb.CancelJobRequest(id="nope"), metadata=KEY)
                           ) is grpc.StatusCode.INVALID_ARGUMENT
        assert await _code(stub.CancelJob(pb.CancelJobRequest(id=job_id))
                           ) is grpc.StatusCode.UNAUTHENTICATED
        (done_id,) = await enqueue(stub, "t")
        service = replica.runtime.service
        (leased,) = await service.lease(["default"], worker_id="w", limit=1)
        assert leased.lease_id is not None
        await service.ack(leased.id, leased.lease_id)
        assert await _code(stub.CancelJob(pb.CancelJobRequest(id=done_id), metadata=KEY)
                           ) is grpc.StatusCode.FAILED_PRECONDITION


async def _cancellations(call: Call) -> list[pb.Cancellation]:
    while True:
        response = await next_message(call, pb.SessionResponse)
        if response.cancelled:
            return list(response.cancelled)


class TestSessionCancellation:
    async def test_worker_is_told_and_late_settlements_are_refused(
            self, stub: Stub, replica: Replica) -> None:
        await enqueue(stub, "a", "b")
        call, (held, other) = await open_session(stub, 2)
        await replica.runtime.service.cancel(uuid.UUID(held.id))
        (told,) = await _cancellations(call)
        assert (told.job_id, told.lease_id) == (held.id, held.lease_id)
        workers = replica.runtime.workers.snapshot()
        assert [w.in_flight for w in workers] == [1]  # the cancelled job is no longer in flight
        await call.write(pb.SessionRequest(
            settlements=[pb.Settlement(job_id=held.id, lease_id=held.lease_id, success=True),
                         pb.Settlement(job_id=other.id, lease_id=other.lease_id,
                                       success=True)],
            extensions=[pb.Extension(job_id=held.id, lease_id=held.lease_id)]))
        settled: dict[str, pb.Outcome] = {}
        extended: list[pb.Outcome] = []
        while len(settled) < 2 or not extended:
            response = await next_message(call, pb.SessionResponse)
            settled |= {o.job_id: o for o in response.settled}
            extended += response.extended
        assert settled[held.id].code == LOST and settled[other.id].status == "succeeded"
        assert extended[0].code == LOST
        job = await replica.runtime.service.get(uuid.UUID(held.id))
        assert (job.status, job.result) == (JobStatus.CANCELLED, None)
        assert [w.in_flight for w in replica.runtime.workers.snapshot()] == [0]
        call.cancel()

    async def test_cancel_on_another_replica_reaches_the_session(
            self, clean_db: str, stub: Stub, replica: Replica) -> None:
        await enqueue(stub, "a")
        call, (held,) = await open_session(stub, 1)
        async with running(settings_for(clean_db)) as other:
            await eventually(lambda: listening(clean_db, 2), what="both replicas to LISTEN")
            job = await other.service.cancel(uuid.UUID(held.id))
            assert job.status is JobStatus.CANCELLED
            (told,) = await _cancellations(call)
        assert told.lease_id == held.lease_id
        call.cancel()
