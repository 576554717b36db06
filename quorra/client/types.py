"""What producers send and get back: ``NewJob`` in, ``Enqueued`` and ``JobInfo`` out, and their
protobuf forms. Every job gets its id here (UUIDv7) unless the caller chose one: that id is what
makes a retried enqueue safe."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from google.protobuf.timestamp_pb2 import Timestamp

from quorra.client.errors import InvalidRequest
from quorra.core.ids import new_job_id
from quorra.rpc.proto import quorra_pb2 as pb

__all__ = ["Enqueued", "JobInfo", "NewJob", "enqueued_from_pb", "info_from_pb", "to_pb"]

_encode = msgspec.json.encode
_KEYS = {"type", "payload", "queue", "priority", "delay", "delay_seconds", "run_at",
         "max_retries", "id", "timeout", "timeout_seconds", "unique_key", "unique_for",
         "unique_for_seconds", "depends_on", "traceparent"}


@dataclasses.dataclass(frozen=True, slots=True)
class NewJob:
    """A job to enqueue. Unset fields take the server's defaults (queue ``default``, priority
    0, no delay, 3 retries, the server's time limit); ``id`` is generated unless given.
    ``timeout`` is each attempt's time limit in seconds (more than 0, at most 7 days).
    ``unique_key``: while a job of the queue holds it, the enqueue stores nothing and answers
    that job (``duplicate``); held ``unique_for`` seconds, or (unset) until the job finishes.
    ``depends_on``: ids of jobs (stored already, or sent earlier or in the same call) that must
    succeed first; until then the job is ``blocked``. ``traceparent``: a W3C trace context
    for this job; unset, the call carries the current OpenTelemetry span's (if any)."""

    type: str
    payload: Mapping[str, Any] | None = None
    queue: str | None = None
    priority: int | None = None
    delay: float | None = None
    run_at: datetime | None = None
    max_retries: int | None = None
    id: str | None = None
    timeout: float | None = None
    unique_key: str | None = None
    unique_for: float | None = None
    depends_on: Sequence[str] = ()
    traceparent: str | None = None

    @classmethod
    def from_mapping(cls, job: Mapping[str, Any], field: str = "") -> NewJob:
        """From a dict with these names (``delay_seconds`` and ``timeout_seconds`` as in the
        REST API work too)."""
        unknown = sorted(set(job) - _KEYS)
        if unknown:
            raise InvalidRequest(_name(field, unknown[0]), "unknown field")
        if "type" not in job:
            raise InvalidRequest(_name(field, "type"), "is required")
        renames = (("delay_seconds", "delay"), ("timeout_seconds", "timeout"),
                   ("unique_for_seconds", "unique_for"))
        values = {k: v for k, v in job.items() if k not in dict(renames)}
        for rest_name, name in renames:
            if rest_name in job and name not in job:
                values[name] = job[rest_name]
        return cls(**values)


@dataclasses.dataclass(frozen=True, slots=True)
class Enqueued:
    """A stored job: its id, status (``pending``; ``blocked`` until its parents succeeded) and
    when it becomes ready. ``duplicate``: nothing was stored, its unique key was held; this is
    the job holding it."""

    id: str
    status: str
    run_at: datetime | None
    duplicate: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class JobInfo:
    """A job as the server stores it (``get``)."""

    id: str
    type: str
    queue: str
    status: str
    payload: dict[str, Any]
    priority: int
    attempts: int
    max_retries: int
    last_error: str
    result: Any
    run_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    finished_at: datetime | None
    timeout_seconds: float | None = None  # each attempt's time limit (None: none)
    unique_key: str = ""
    depends_on: tuple[str, ...] = ()  # the jobs it waits for
    dependents: tuple[str, ...] = ()  # the jobs waiting for it (at most 1,000)
    traceparent: str = ""  # the producer's W3C traceparent ("": none)


def _stamp(value: datetime, field: str) -> Timestamp:
    if value.tzinfo is None:
        raise InvalidRequest(field, "needs a timezone (an aware datetime)")
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def _name(field: str, sub: str) -> str:
    return f"{field}.{sub}" if field else sub


def to_pb(job: NewJob, field: str = "") -> pb.JobSpec:
    """The protobuf spec; the payload is encoded here, the rest is checked by the server."""
    try:
        payload = _encode(job.payload) if job.payload is not None else b""
    except (TypeError, msgspec.EncodeError) as exc:
        raise InvalidRequest(_name(field, "payload"), f"is not JSON-encodable ({exc})") from None
    try:
        message = pb.JobSpec(type=job.type, payload=payload, queue=job.queue or "",
                             id=job.id or str(new_job_id()))
        for name, value in (("priority", job.priority), ("delay_seconds", job.delay),
                            ("max_retries", job.max_retries), ("timeout_seconds", job.timeout),
                            ("unique_key", job.unique_key),
                            ("traceparent", job.traceparent),
                            ("unique_for_seconds", job.unique_for)):
            if value is not None:  # unset stays unset: the server's default applies
                setattr(message, name, value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(field or "job", f"a value of the wrong type ({exc})") from None
    if job.run_at is not None:
        message.run_at.CopyFrom(_stamp(job.run_at, _name(field, "run_at")))
    if isinstance(job.depends_on, str):
        raise InvalidRequest(_name(field, "depends_on"), "must be a list of job ids")
    message.depends_on.extend(str(parent) for parent in job.depends_on)
    return message


def _time(message: Any, name: str) -> datetime | None:
    return getattr(message, name).ToDatetime(tzinfo=UTC) if message.HasField(name) else None


def enqueued_from_pb(message: pb.Enqueued) -> Enqueued:
    return Enqueued(id=message.id, status=message.status, run_at=_time(message, "run_at"),
                    duplicate=message.duplicate)


def info_from_pb(message: pb.Job) -> JobInfo:
    return JobInfo(
        id=message.id, type=message.type, queue=message.queue, status=message.status,
        payload=msgspec.json.decode(message.payload) if message.payload else {},
        priority=message.priority, attempts=message.attempts, max_retries=message.max_retries,
        last_error=message.last_error,
        result=msgspec.json.decode(message.result) if message.result else None,
        run_at=_time(message, "run_at"), created_at=_time(message, "created_at"),
        updated_at=_time(message, "updated_at"), finished_at=_time(message, "finished_at"),
        timeout_seconds=message.timeout_seconds or None,
        unique_key=message.unique_key,
        depends_on=tuple(message.depends_on),
        dependents=tuple(message.dependents),
        traceparent=message.traceparent,
    )
