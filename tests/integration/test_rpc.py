"""The worker protocol over a real port against an in-process replica (real Postgres)."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeAlias

import grpc
import msgspec
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from quorra.core.jobs import Job, JobStatus
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.integration.conftest import KEY, Replica
from tests.rpc_reads import next_message
from tests.support import eventually

Stub: TypeAlias = "pb_grpc.WorkerServiceAsyncStub"  # what WorkerServiceStub(aio channel) is


async def enqueue(stub: Stub, *types: str, **fields: object) -> list[str]:
    specs = [pb.JobSpec(type=t, **fields) for t in types]  # type: ignore[arg-type]
    done = await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=specs), metadata=KEY)
    return [job.id for job in done.jobs]


async def status_of(replica: Replica, job_id: str) -> tuple[JobStatus, int, str | None]:
    job = await replica.runtime.service.get(uuid.UUID(job_id))
    return job.status, job.attempts, job.last_error


class TestOriginalFields:
    """A client built from GoQuorra's fields only gets GoQuorra's semantics."""

    async def test_lease_ready_jobs_up_to_max_then_end(self, stub: Stub) -> None:
        await enqueue(stub, "a", "b", "c")
        first = [j async for j in stub.LeaseJobs(
            pb.LeaseRequest(worker_id="w", queue="default", max_jobs=2, lease_ttl_seconds=30),
            metadata=KEY)]
        assert [j.type for j in first] == ["a", "b"]
        assert all(j.lease_id and j.attempts == 1 and j.payload == b"{}" for j in first)
        assert first[0].HasField("leased_at") and first[0].HasField("run_at")
        rest = [j async for j in stub.LeaseJobs(pb.LeaseRequest(worker_id="w"), metadata=KEY)]
        assert [j.type for j in rest] == ["c"]
        assert [j async for j in stub.LeaseJobs(pb.LeaseRequest(), metadata=KEY)] == []

    async def test_ack_nack_and_ack_false(self, stub: Stub, replica: Replica) -> None:
        ok, bad, also_bad = await enqueue(stub, "ok", "bad", "also_bad")
        jobs = {j.id: j async for j in stub.LeaseJobs(pb.LeaseRequest(max_jobs=3), metadata=KEY)}
        reply = await stub.AckJob(pb.JobAck(job_id=ok, worker_id="w", lease_id=jobs[ok].lease_id,
                                            success=True), metadata=KEY)
        assert reply.acknowledged and reply.message == "Job completed successfully"
        await stub.NackJob(pb.JobAck(job_id=bad, lease_id=jobs[bad].lease_id,
                                     error_message="boom"), metadata=KEY)
        reply = await stub.AckJob(pb.JobAck(job_id=also_bad, lease_id=jobs[also_bad].lease_id,
                                            success=False, error_message="nope"), metadata=KEY)
        assert reply.acknowledged and reply.status == "pending"
        assert await status_of(replica, ok) == (JobStatus.SUCCEEDED, 1, None)
        assert await status_of(replica, bad) == (JobStatus.PENDING, 1, "boom")
        assert await status_of(replica, also_bad) == (JobStatus.PENDING, 1, "nope")


class TestSettlement:
    async def test_result_no_retry_and_stale_lease(self, stub: Stub, replica: Replica) -> None:
        good, doomed = await enqueue(stub, "good", "doomed", max_retries=5)
        jobs = {j.id: j async for j in stub.LeaseJobs(pb.LeaseRequest(max_jobs=2), metadata=KEY)}
        await stub.AckJob(pb.JobAck(job_id=good, lease_id=jobs[good].lease_id, success=True,
                                    result=b'{"n": 42}'), metadata=KEY)
        assert (await replica.runtime.service.get(uuid.UUID(good))).result == {"n": 42}
        reply = await stub.NackJob(pb.JobAck(job_id=doomed, lease_id=jobs[doomed].lease_id,
                                             error_message="bad input", no_retry=True),
                                   metadata=KEY)
        assert reply.status == "dead"
        for call in (stub.AckJob, stub.NackJob):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call(pb.JobAck(job_id=good, lease_id=jobs[good].lease_id, success=True),
                           metadata=KEY)
            assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.AckJob(pb.JobAck(job_id=str(uuid.uuid4()), lease_id=str(uuid.uuid4())),
                              metadata=KEY)
        assert info.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.AckJob(pb.JobAck(job_id="x", lease_id="y"), metadata=KEY)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "job_id" in (info.value.details() or "")

    async def test_extend_returns_deadline_and_stale_lease_fails(self, stub: Stub) -> None:
        (job_id,) = await enqueue(stub, "long")
        (job,) = [j async for j in stub.LeaseJobs(pb.LeaseRequest(lease_ttl_seconds=5),
                                                   metadata=KEY)]
        reply = await stub.ExtendLease(pb.ExtendRequest(job_id=job_id, lease_id=job.lease_id,
                                                        lease_ttl_seconds=600), metadata=KEY)
        gained = reply.lease_expires_at.ToSeconds() - job.lease_expires_at.ToSeconds()
        assert 590 < gained < 600
        await stub.AckJob(pb.JobAck(job_id=job_id, lease_id=job.lease_id, success=True),
                          metadata=KEY)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ExtendLease(pb.ExtendRequest(job_id=job_id, lease_id=job.lease_id),
                                   metadata=KEY)
        assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION


class TestFollow:
    async def test_pushes_jobs_enqueued_later_within_milliseconds(self, stub: Stub) -> None:
        call = stub.LeaseJobs(pb.LeaseRequest(worker_id="w", follow=True, max_jobs=100,
                                              queues=["q1", "q2"]), metadata=KEY)
        latencies = []
        for i in range(20):
            started = time.perf_counter()
            await enqueue(stub, f"t{i}", queue="q2" if i % 2 else "q1")
            job = await next_message(call, pb.Job)
            latencies.append(time.perf_counter() - started)
            assert job.type == f"t{i}"
        call.cancel()
        median = statistics.median(latencies)
        print(f"\nenqueue → pushed on a follow stream: median {median * 1000:.1f} ms, "
              f"max {max(latencies) * 1000:.1f} ms (enqueue round trip included)")
        assert median < 0.1

    async def test_one_lease_turn_wakes_one_stream_per_enqueue(
        self, stub: Stub, replica: Replica, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        service, turns = replica.runtime.service, replica.runtime.rpc.servicer.turns
        calls = [stub.LeaseJobs(pb.LeaseRequest(worker_id=f"w{i}", follow=True, max_jobs=10),
                                metadata=KEY) for i in range(5)]

        async def all_waiting() -> bool:
            groups = list(turns._groups.values())
            return len(groups) == 1 and sum(not f.done() for f in groups[0].waiters) == 5

        await eventually(all_waiting, what="five idle streams")
        lease = service.lease
        leases = 0

        async def counted(*args: Any, **kwargs: Any) -> list[Job]:
            nonlocal leases
            leases += 1
            return await lease(*args, **kwargs)

        monkeypatch.setattr(service, "lease", counted)
        (job_id,) = await enqueue(stub, "once")
        reads = [asyncio.ensure_future(next_message(call, pb.Job)) for call in calls]
        done, _ = await asyncio.wait(reads, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        assert [task.result().id for task in done] == [job_id]
        # the woken stream leases (and looks once more, having credit left), maybe one backup
        # poll: not one lease per waiting stream
        assert leases < 5
        for call in calls:
            call.cancel()
        await asyncio.gather(*reads, return_exceptions=True)

    async def test_an_idle_stream_gets_a_job_leased_in_its_insert(
        self, stub: Stub, replica: Replica, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Hand-off: no lease query between the enqueue's commit and the push."""
        service = replica.runtime.service
        call = stub.LeaseJobs(pb.LeaseRequest(worker_id="idle", follow=True, max_jobs=4,
                                              lease_ttl_seconds=60), metadata=KEY)

        async def offer_posted() -> bool:
            return service.lessees is not None and service.lessees.waiting("default")

        await eventually(offer_posted, what="the idle stream's offer")
        registry = service.metrics.registry

        def leased() -> float:
            return registry.get_sample_value("quorra_jobs_leased_total",
                                             {"queue": "default"}) or 0.0

        before = leased()
        lease = service.lease

        async def no_lease_query(*args: Any, **kwargs: Any) -> list[Job]:
            raise AssertionError("leased by a query, not at its insert")

        monkeypatch.setattr(service, "lease", no_lease_query)
        done = await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[pb.JobSpec(type="handed")]),
                                      metadata=KEY)
        assert done.jobs[0].status == "leased"
        job = await next_message(call, pb.Job)
        assert (job.id, job.type, job.attempts) == (done.jobs[0].id, "handed", 1)
        assert job.lease_id and job.lease_expires_at.seconds - time.time() > 50
        assert leased() == before + 1
        monkeypatch.setattr(service, "lease", lease)
        reply = await stub.AckJob(pb.JobAck(job_id=job.id, lease_id=job.lease_id, success=True),
                                  metadata=KEY)
        assert reply.acknowledged
        assert (await status_of(replica, job.id))[0] is JobStatus.SUCCEEDED
        call.cancel()

    async def test_in_flight_window(self, stub: Stub) -> None:
        await enqueue(stub, *[f"j{i}" for i in range(5)])
        call = stub.LeaseJobs(pb.LeaseRequest(follow=True, max_jobs=2), metadata=KEY)
        first = [await next_message(call, pb.Job), await next_message(call, pb.Job)]
        third = asyncio.ensure_future(next_message(call, pb.Job, 10))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(third), 0.7)
        await stub.AckJob(pb.JobAck(job_id=first[0].id, lease_id=first[0].lease_id,
                                    success=True), metadata=KEY)
        assert (await asyncio.wait_for(third, 5)).type == "j2"
        call.cancel()

    async def test_shutdown_ends_streams_and_releases_undelivered(
        self, stub: Stub, replica: Replica, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        service, rpc = replica.runtime.service, replica.runtime.rpc
        lease = service.lease

        async def lease_then_shutdown(*args: Any, **kwargs: Any) -> list[Job]:
            jobs = await lease(*args, **kwargs)
            rpc.stopping.set()  # shutdown begins while these jobs are on their way out
            return jobs

        monkeypatch.setattr(service, "lease", lease_then_shutdown)
        (job_id,) = await enqueue(stub, "caught")
        call = stub.LeaseJobs(pb.LeaseRequest(follow=True, max_jobs=5), metadata=KEY)
        assert await asyncio.wait_for(_drain(call), 5) == []
        assert await status_of(replica, job_id) == (JobStatus.PENDING, 0, None)


async def _drain(call: grpc.aio.UnaryStreamCall[pb.LeaseRequest, pb.Job]) -> list[pb.Job]:
    return [job async for job in call]


class TestSession:
    async def test_batches_credit_settle_extend_release(self, stub: Stub, replica: Replica) -> None:
        ids = await enqueue(stub, *[f"s{i}" for i in range(10)])
        call = stub.Session(metadata=KEY)
        await call.write(pb.SessionRequest(open=pb.SessionOpen(worker_id="w"), credit=4))
        got: list[pb.Job] = []
        while len(got) < 4:
            got += (await next_message(call, pb.SessionResponse)).jobs
        assert len(got) == 4
        settle = [pb.Settlement(job_id=j.id, lease_id=j.lease_id, success=True, result=b"1")
                  for j in got[:2]]
        settle.append(pb.Settlement(job_id=got[2].id, lease_id=got[2].lease_id,
                                    error_message="x", no_retry=True))
        settle.append(pb.Settlement(job_id=got[3].id, lease_id=got[3].lease_id, release=True))
        await call.write(pb.SessionRequest(settlements=settle, extensions=[
            pb.Extension(job_id=got[0].id, lease_id=got[0].lease_id)]))
        settled: list[pb.Outcome] = []
        extended: list[pb.Outcome] = []
        while len(settled) < 4 or not extended:
            response = await next_message(call, pb.SessionResponse)
            assert not response.jobs  # no credit left
            settled += response.settled
            extended += response.extended
        by_job = {o.job_id: o.status for o in settled}
        assert [by_job[j.id] for j in got] == ["succeeded", "succeeded", "dead", "pending"]
        assert extended[0].code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
        await call.write(pb.SessionRequest(drain=True))
        await call.done_writing()
        assert await asyncio.wait_for(call.read(), 5) is grpc.aio.EOF
        assert await status_of(replica, got[3].id) == (JobStatus.PENDING, 0, None)
        assert len(ids) == 10

    async def test_first_message_must_open(self, stub: Stub) -> None:
        call = stub.Session(metadata=KEY)
        await call.write(pb.SessionRequest(credit=1))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call.read()
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


class TestEnqueue:
    async def test_same_validation_as_rest_and_nothing_stored(
        self, stub: Stub, replica: Replica
    ) -> None:
        cases = [
            (pb.JobSpec(type=""), "jobs[1].type"),
            (pb.JobSpec(type="t", queue="bad queue!"), "jobs[1].queue"),
            (pb.JobSpec(type="t", priority=10**9), "jobs[1].priority"),
            (pb.JobSpec(type="t", payload=b"[1]"), "jobs[1].payload"),
            (pb.JobSpec(type="t", payload=b"{nope"), "jobs[1].payload"),
            (pb.JobSpec(type="t", max_retries=-1), "jobs[1].max_retries"),
            (pb.JobSpec(type="t", delay_seconds=-1), "jobs[1].delay_seconds"),
        ]
        for bad, field in cases:
            request = pb.EnqueueJobsRequest(jobs=[pb.JobSpec(type="fine"), bad])
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.EnqueueJobs(request, metadata=KEY)
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert field in (info.value.details() or ""), (field, info.value.details())
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.EnqueueJobs(pb.EnqueueJobsRequest(), metadata=KEY)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert await replica.runtime.service.queue_counts() == []

    async def test_fields_and_explicit_zero_retries(self, stub: Stub, replica: Replica) -> None:
        payload = msgspec.json.encode({"to": "a@b.c"})
        (job_id,) = await enqueue(stub, "email", payload=payload, queue="mail", priority=7,
                                  max_retries=0, delay_seconds=60)
        job = await replica.runtime.service.get(uuid.UUID(job_id))
        assert (job.payload, job.queue, job.priority, job.max_retries) == (
            {"to": "a@b.c"}, "mail", 7, 0)
        assert job.status is JobStatus.PENDING
        (default,) = await enqueue(stub, "plain")
        assert (await replica.runtime.service.get(uuid.UUID(default))).max_retries == 3


class TestAuth:
    @pytest.mark.parametrize("metadata", [(), (("x-api-key", "wrong"),)])
    async def test_missing_or_wrong_key(self, stub: Stub, metadata: tuple[tuple[str, str]]) -> None:
        calls: list[Awaitable[object]] = [
            stub.AckJob(pb.JobAck(), metadata=metadata),
            stub.EnqueueJobs(pb.EnqueueJobsRequest(), metadata=metadata),
            _drain(stub.LeaseJobs(pb.LeaseRequest(), metadata=metadata)),
        ]
        for pending in calls:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await pending
            assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
        session = stub.Session(metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await session.read()
        assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED

    async def test_health_and_reflection_need_no_key(self, replica: Replica) -> None:
        async with replica.channel() as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "quorra.WorkerService"):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
            call = reflect.ServerReflectionInfo()
            await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
            reply = await call.read()
            await call.done_writing()
            names = {s.name for s in reply.list_services_response.service}
            assert "quorra.WorkerService" in names
