"""``quorra.WorkerService``: GoQuorra's three RPCs plus Quorra's additions. Calls only
``JobService``; the batched ``Session`` lives in ``quorra.rpc.session``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc

from quorra.core.jobs import JobStatus
from quorra.core.sizes import grpc_message_bytes
from quorra.core.spec import Limits, check_worker_id
from quorra.core.traceparent import TRACEPARENT, inherit_traceparent
from quorra.rpc.auth import allow_queues, current_principal, job_message, tenant_queues
from quorra.rpc.convert import (
    enqueued_to_pb,
    job_detail_to_pb,
    metadata_value,
    parse_id,
    parse_result,
    queues_of,
    specs_from_pb,
    timestamp,
    window_of,
)
from quorra.rpc.errors import abort_with, translated
from quorra.rpc.feed import Feed, LeaseTurns, Window, first_of
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from quorra.rpc.session import Session
from quorra.rpc.settle import Settle, Windows, settle
from quorra.service import JobService
from quorra.tenancy import Jobs, jobs_for
from quorra.worker_directory import WorkerDirectory

__all__ = ["WorkerServicer"]

Context = grpc.aio.ServicerContext[Any, Any]

_MESSAGES = {JobStatus.SUCCEEDED: "Job completed successfully",
             JobStatus.PENDING: "Job failure recorded; it will be retried",
             JobStatus.DEAD: "Job failure recorded; it is dead"}


def _settlement(request: pb.JobAck, limits: Limits, *, success: bool) -> Settle:
    result = parse_result(request.result, limits.max_payload_bytes) if success else None
    return Settle(parse_id(request.job_id, "job_id"), parse_id(request.lease_id, "lease_id"),
                  success=success, error=request.error_message, result=result,
                  no_retry=request.no_retry, release=request.release and not success)


class WorkerServicer(pb_grpc.WorkerServiceServicer):
    def __init__(self, service: JobService, directory: WorkerDirectory, *, limits: Limits,
                 stopping: asyncio.Event, session_grace: float = 10.0,
                 max_message_bytes: int | None = None) -> None:
        self.service = service
        # our send limit: what the largest job needs at least (the composition root passes it)
        self.max_message_bytes = max_message_bytes or grpc_message_bytes(
            0, limits.max_payload_bytes)
        self.directory = directory
        self.limits = limits
        self.stopping = stopping
        self.session_grace = session_grace
        self.windows = Windows()
        self.turns = LeaseTurns(service)
        self.holders: dict[uuid.UUID, Session] = {}  # lease id -> the session holding it
        service.on_cancel(self._lease_cancelled)

    def _lease_cancelled(self, job_id: uuid.UUID, lease_id: uuid.UUID) -> None:
        """A cancel (here or on another replica) voided a lease: free its follow-stream slot,
        and tell the worker whose session holds it."""
        self.windows.settled(lease_id)
        session = self.holders.get(lease_id)
        if session is not None:
            session.cancel(job_id, lease_id)

    def forget_holder(self, session: Session) -> None:
        """A session ended: it holds none of its leases any more."""
        for lease_id in session.leases:
            if self.holders.get(lease_id) is session:
                del self.holders[lease_id]

    async def LeaseJobs(  # noqa: N802  (gRPC method names)
        self, request: pb.LeaseRequest, context: Context
    ) -> AsyncIterator[pb.Job]:
        try:
            queues = queues_of(request.queues, request.queue, limits=self.limits)
            allow_queues(queues)
            queues = tenant_queues(queues)
            check_worker_id(request.worker_id)
            feed = Feed(self.service, queues, worker_id=request.worker_id,
                        ttl=float(request.lease_ttl_seconds), stops=[self.stopping],
                        turns=self.turns)
            window = window_of(request.max_jobs)
            if not request.follow:
                jobs = await self.service.lease(queues, worker_id=request.worker_id,
                                                limit=window, ttl=float(request.lease_ttl_seconds))
                async for message in self._deliver(feed, jobs):
                    yield message
                return
            async for message in self._follow(feed, Window(window, self.windows.expired),
                                              context):
                yield message
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:
            await abort_with(context, exc)

    async def _follow(self, feed: Feed, window: Window, context: Context
                      ) -> AsyncIterator[pb.Job]:
        session = uuid.uuid4().hex
        self.directory.connect(session, feed.worker_id, feed.queues, context.peer())
        try:
            while not self.stopping.is_set():
                credit = window.credit()
                self.directory.in_flight(session, window.size - credit)
                if credit <= 0:
                    window.changed.clear()
                    await first_of(window.changed.wait(), self.stopping.wait(),
                                   timeout=window.seconds_to_next_expiry())
                    continue
                jobs = await feed.take(credit)
                for job in jobs:
                    window.add(job)
                    if job.lease_id is not None:
                        self.windows.track(job.lease_id, window)
                async for message in self._deliver(feed, jobs):
                    yield message
        finally:
            feed.close()
            self.windows.forget(window)
            self.directory.disconnect(session)

    async def _deliver(self, feed: Feed, jobs: list[Any]) -> AsyncIterator[pb.Job]:
        """Yield jobs; those never handed to the transport are released in the end."""
        delivered = 0
        principal = current_principal.get()
        try:
            for job in jobs:
                if self.stopping.is_set():
                    break
                yield job_message(job, principal)
                delivered += 1
        finally:
            await feed.give_back(jobs[delivered:])

    @translated
    async def AckJob(self, request: pb.JobAck, context: Context) -> pb.JobAckResponse:  # noqa: N802
        """GoQuorra's ack; ``success=false`` counts as a failed attempt."""
        await self._tenant_owns(request.job_id)
        status = await settle(self.service, self.windows,
                              _settlement(request, self.limits, success=request.success))
        return pb.JobAckResponse(acknowledged=True, message=_MESSAGES[status],
                                 status=status.value)

    @translated
    async def NackJob(self, request: pb.JobAck, context: Context) -> pb.JobAckResponse:  # noqa: N802
        await self._tenant_owns(request.job_id)
        item = _settlement(request, self.limits, success=False)
        status = await settle(self.service, self.windows, item)
        message = "Job released" if request.release else _MESSAGES[status]
        return pb.JobAckResponse(acknowledged=True, message=message, status=status.value)

    @translated
    async def ExtendLease(  # noqa: N802
        self, request: pb.ExtendRequest, context: Context
    ) -> pb.ExtendResponse:
        await self._tenant_owns(request.job_id)
        lease_id = parse_id(request.lease_id, "lease_id")
        deadline = await self.service.extend(parse_id(request.job_id, "job_id"), lease_id,
                                             float(request.lease_ttl_seconds))
        self.windows.extended(lease_id, deadline)
        return pb.ExtendResponse(lease_expires_at=timestamp(deadline))

    @translated
    async def EnqueueJobs(  # noqa: N802
        self, request: pb.EnqueueJobsRequest, context: Context
    ) -> pb.EnqueueJobsResponse:
        specs = inherit_traceparent(specs_from_pb(request, self.limits),
                                    metadata_value(context, TRACEPARENT),
                                    f"metadata {TRACEPARENT}")
        allow_queues([spec.queue for spec in specs])
        done = await self._jobs().enqueue(specs)
        return pb.EnqueueJobsResponse(jobs=[enqueued_to_pb(item) for item in done])

    @translated
    async def GetJob(self, request: pb.GetJobRequest, context: Context) -> pb.Job:  # noqa: N802
        """The job; one stored before results were bounded may not fit in a message: a clear
        RESOURCE_EXHAUSTED then, instead of a transport error (REST still shows it)."""
        found = await self._jobs().get(parse_id(request.id, "id"))
        allow_queues([found.queue])
        job = job_detail_to_pb(found)
        if job.ByteSize() > self.max_message_bytes:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"job {request.id} is {job.ByteSize()} bytes, over the message "
                                f"limit of {self.max_message_bytes}; read it with "
                                f"GET /v1/jobs/{{id}}")
        return job

    @translated
    async def CancelJob(  # noqa: N802
        self, request: pb.CancelJobRequest, context: Context
    ) -> pb.Job:
        """``POST /v1/jobs/{id}/cancel``: the job, now cancelled."""
        job_id = parse_id(request.id, "id")
        principal = current_principal.get()
        jobs = self._jobs()
        if principal is None or principal.queues:
            allow_queues([(await jobs.get(job_id)).queue])
        return job_detail_to_pb(await jobs.cancel(job_id))

    async def _tenant_owns(self, job_id: str) -> None:
        """A tenant's unary settlement names one of its jobs (NOT_FOUND otherwise); a lease id
        is a secret already, this keeps tenants apart even if one leaked."""
        principal = current_principal.get()
        if principal is not None and principal.tenant is not None:
            await self._jobs().get(parse_id(job_id, "job_id"))

    def _jobs(self) -> Jobs:
        """The use-cases as the calling principal sees them (its tenant's queues only)."""
        principal = current_principal.get()
        return self.service if principal is None else jobs_for(self.service, principal)

    async def Session(  # noqa: N802
        self, request_iterator: AsyncIterator[pb.SessionRequest], context: Context
    ) -> AsyncIterator[pb.SessionResponse]:
        try:
            session = await Session.open(self, request_iterator, context)
            await context.send_initial_metadata(())
            async for response in session.run():
                yield response
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:
            await abort_with(context, exc)
