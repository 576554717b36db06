"""Response bodies of the REST API (the wire shapes GoQuorra clients know)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from quorra.core.jobs import Enqueued, Job, JobStatus, QueueCount
from quorra.core.limits import QueueLimits
from quorra.core.spec import JobType, QueueName

__all__ = [
    "CancelFilter",
    "CancelledCount",
    "EnqueuedList",
    "ErrorBody",
    "JobList",
    "JobPageView",
    "JobView",
    "QueueList",
    "QueueState",
    "RateView",
    "ReplicaList",
    "ReplicaView",
    "Retried",
    "WorkerList",
    "WorkerView",
    "job_view",
]


class JobView(msgspec.Struct, omit_defaults=True):
    id: uuid.UUID
    type: str
    payload: Any
    queue: str
    priority: int
    status: JobStatus
    attempts: int
    max_retries: int
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    last_error: str | None = None
    result: Any = None
    lease_id: uuid.UUID | None = None
    leased_at: datetime | None = None
    leased_by: str | None = None
    lease_expires_at: datetime | None = None
    finished_at: datetime | None = None
    timeout_seconds: float | None = None
    deadline: datetime | None = None  # the running attempt's time limit (leased_at + timeout)
    unique_key: str | None = None
    depends_on: list[uuid.UUID] | None = None  # the jobs it waits for (as enqueued)
    dependents: list[uuid.UUID] | None = None  # GET /v1/jobs/{id}: the jobs waiting for it
    traceparent: str | None = None  # the producer's W3C traceparent, if it sent one


def job_view(job: Job) -> JobView:
    leased = job.status is JobStatus.LEASED
    return JobView(
        id=job.id, type=job.type, payload=job.payload, queue=job.queue, priority=job.priority,
        status=job.status, attempts=job.attempts, max_retries=job.max_retries,
        run_at=job.run_at, created_at=job.created_at, updated_at=job.updated_at,
        last_error=job.last_error, result=job.result,
        lease_id=job.lease_id if leased else None,
        leased_at=job.leased_at if leased else None,
        leased_by=job.leased_by if leased else None,
        lease_expires_at=job.lease_expires_at if leased else None,
        finished_at=job.finished_at,
        timeout_seconds=job.timeout_seconds,
        deadline=job.deadline if leased else None,
        unique_key=job.unique_key,
        depends_on=job.depends_on,
        dependents=job.dependents,
        traceparent=job.traceparent,
    )


class EnqueuedList(msgspec.Struct):
    jobs: list[Enqueued]


class JobList(msgspec.Struct):
    jobs: list[JobView]


class JobPageView(msgspec.Struct):
    """A page of ``GET /v1/jobs``; pass ``next_cursor`` back as ``cursor`` for the next one."""

    jobs: list[JobView]
    next_cursor: str | None


class Retried(msgspec.Struct):
    retried: int


class CancelFilter(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/jobs/cancel``: which unfinished jobs to cancel (a queue, a type, or both)."""

    queue: QueueName | None = None
    type: JobType | None = None


class CancelledCount(msgspec.Struct):
    cancelled: int


class WorkerView(msgspec.Struct):
    worker_id: str
    queues: list[str]
    in_flight: int
    connected_at: datetime
    last_seen: datetime
    replica: str | None = None  # the server replica it is connected to


class WorkerList(msgspec.Struct):
    workers: list[WorkerView]


class RateView(msgspec.Struct):
    """Jobs per second over the second ending at ``at``."""

    at: datetime
    enqueued: float
    succeeded: float
    failed: float


class ReplicaView(msgspec.Struct):
    """A server replica as recorded: ``live`` while its heartbeat is recent."""

    id: str
    host: str
    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    live: bool
    workers: list[WorkerView]
    throughput: RateView | None  # its latest second


class ReplicaList(msgspec.Struct):
    replicas: list[ReplicaView]


class QueueList(msgspec.Struct):
    queues: list[QueueCount]
    paused: list[str] = msgspec.field(default_factory=list)  # queues no job is leased from
    limits: dict[str, QueueLimits] = msgspec.field(default_factory=dict)  # limited queues


class LimitsBody(msgspec.Struct, forbid_unknown_fields=True):
    """``PUT /v1/queues/{queue}/limits``: the queue's limits, replacing any it had; a field left
    out or null sets no such limit. ``rate_limit`` leases per ``rate_period`` seconds (both
    or neither)."""

    max_concurrency: int | None = None
    rate_limit: int | None = None
    rate_period: float | None = None


class QueueLimitsView(msgspec.Struct):
    queue: str
    max_concurrency: int | None
    rate_limit: int | None
    rate_period: float | None


class QueueState(msgspec.Struct):
    """A queue's pause flag after ``POST /v1/queues/{queue}/pause`` or ``/resume``."""

    queue: str
    paused: bool


class ErrorBody(msgspec.Struct, omit_defaults=True):
    error: str
    field: str | None = None
