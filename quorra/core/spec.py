"""Turn untrusted enqueue input into ``JobSpec``s, naming the field at fault.

Both front doors use this: REST decodes the raw body here (strictly: ``"5"`` is not an
integer), gRPC converts its message fields here. Nothing is stored unless every job passes.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec

from quorra.core.dependencies import check_parents, parents_first
from quorra.core.errors import InvalidInput, TooLarge
from quorra.core.ids import new_job_id
from quorra.core.jobs import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_QUEUE,
    MAX_DELAY_SECONDS,
    MAX_DEPENDENCIES,
    MAX_RETRIES_LIMIT,
    MAX_TIMEOUT_SECONDS,
    MAX_UNIQUE_FOR_SECONDS,
    MAX_UNIQUE_KEY_CHARS,
    PRIORITY_MAX,
    PRIORITY_MIN,
    JobSpec,
    round_timeout,
)
from quorra.core.traceparent import MAX_TRACEPARENT_CHARS, check_traceparent

__all__ = [
    "MAX_ERROR_CHARS",
    "BatchRequest",
    "EnqueueRequest",
    "JobType",
    "Limits",
    "Priority",
    "QueueName",
    "Retries",
    "Timeout",
    "check_queue",
    "check_queues",
    "check_worker_id",
    "clean_error",
    "decode_batch",
    "decode_body",
    "decode_enqueue",
    "decode_value",
    "encode_payload",
    "specs_from_builtins",
    "to_spec",
]

_TYPE_PATTERN = r"^[^\x00-\x1f\x7f]+$"
# A queue name, optionally stored under a tenant: ``<tenant>~<queue>`` (quorra.core.tenancy).
_QUEUE_PATTERN = r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}~)?[A-Za-z0-9][A-Za-z0-9_.:-]*$"

JobType = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=_TYPE_PATTERN)]
QueueName = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=_QUEUE_PATTERN)]
Priority = Annotated[int, msgspec.Meta(ge=PRIORITY_MIN, le=PRIORITY_MAX)]
Delay = Annotated[float, msgspec.Meta(ge=0, le=MAX_DELAY_SECONDS)]
Retries = Annotated[int, msgspec.Meta(ge=0, le=MAX_RETRIES_LIMIT)]
Timeout = Annotated[float, msgspec.Meta(gt=0, le=MAX_TIMEOUT_SECONDS)]
UniqueKey = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_UNIQUE_KEY_CHARS,
                                        pattern=r"^[^\x00]+$")]
UniqueFor = Annotated[float, msgspec.Meta(gt=0, le=MAX_UNIQUE_FOR_SECONDS)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Parents = Annotated[list[uuid.UUID], msgspec.Meta(max_length=MAX_DEPENDENCIES)]
TraceParent = Annotated[str, msgspec.Meta(min_length=55, max_length=MAX_TRACEPARENT_CHARS)]


class EnqueueRequest(msgspec.Struct, forbid_unknown_fields=True):
    """One job as producers send it (``POST /v1/jobs``)."""

    type: JobType
    payload: dict[str, Any] | None = None
    queue: QueueName = DEFAULT_QUEUE
    priority: Priority = 0
    delay_seconds: Delay = 0
    run_at: AwareDatetime | None = None
    max_retries: Retries = DEFAULT_MAX_RETRIES
    # The producer's own id for the job: a retried enqueue with the same id stores nothing new.
    id: uuid.UUID | None = None
    timeout_seconds: Timeout | None = None  # each attempt's time limit (None: the default)
    # Unique jobs: while the key is held in this queue, an enqueue with it answers the job
    # holding it. Held for unique_for_seconds after the enqueue, or (without) until the job
    # finishes (succeeded, dead, cancelled) or is deleted.
    unique_key: UniqueKey | None = None
    unique_for_seconds: UniqueFor | None = None
    # Jobs this one waits for (stored already, or in the same batch): it is "blocked" until
    # every one succeeded, and cancelled when one ends dead or cancelled.
    depends_on: Parents | None = None
    # The producer's W3C trace context (https://www.w3.org/TR/trace-context/); the request's
    # `traceparent` header applies to jobs without one.
    traceparent: TraceParent | None = None


class BatchRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Several jobs, stored all or none (``POST /v1/jobs/batch``)."""

    jobs: list[EnqueueRequest]


class Limits(msgspec.Struct, frozen=True):
    max_payload_bytes: int = 1024 * 1024
    max_batch_jobs: int = 1000
    max_session_credit: int = 10_000  # jobs a worker session may hold or be owed at once
    max_message_items: int = 1000  # settlements + extensions in one worker message
    max_lease_queues: int = 64  # queues one lease request or session may name
    max_list_bytes: int = 8 * 1024 * 1024  # jobs (as JSON) in one listing response


MAX_ERROR_CHARS = 4096  # a worker's error message is kept up to this length
_QUEUE_RE = re.compile(_QUEUE_PATTERN)
_WORKER_ID_RE = re.compile(_TYPE_PATTERN)


def check_queues(names: Sequence[str], limits: Limits, field: str = "queues") -> None:
    """The queues a worker leases from: named as enqueue names them, and not too many."""
    if len(names) > limits.max_lease_queues:
        raise InvalidInput(field, f"{len(names)} queues is over the limit of "
                                  f"{limits.max_lease_queues}")
    for index, name in enumerate(names):
        check_queue(name, f"{field}[{index}]")


def check_queue(name: str, field: str = "queue") -> None:
    """One queue name, as enqueue names queues."""
    if len(name) > 128 or not _QUEUE_RE.match(name):
        raise InvalidInput(field, f"must match {_QUEUE_PATTERN} (1-128 chars)")


def check_worker_id(value: str, field: str = "worker_id") -> None:
    if len(value) > 255 or (value and not _WORKER_ID_RE.match(value)):
        raise InvalidInput(field, "must be at most 255 characters, none of them control "
                                  "characters")


def clean_error(message: str) -> str:
    """A worker's error message as stored: NUL (which text columns refuse) replaced, and cut."""
    cleaned = message.replace("\x00", "\ufffd")
    return cleaned if len(cleaned) <= MAX_ERROR_CHARS else cleaned[: MAX_ERROR_CHARS - 1] + "…"


_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_encoder = msgspec.json.Encoder()
_MAX_DEPTH = 64
_TOO_DEEP = f"nested deeper than {_MAX_DEPTH} levels"


def _field_of(message: str) -> tuple[str, str]:
    match = _PATH.search(message)
    if not match:
        return "body", message
    path = match.group("path").lstrip(".")
    return path or "body", message[: match.start()]


def decode_body(raw: bytes, kind: type[Any]) -> Any:
    """A JSON body strictly decoded into ``kind``; errors name the field."""
    try:
        return msgspec.json.decode(raw, type=kind, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(*_field_of(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput("body", f"malformed JSON ({exc})") from None
    except RecursionError:
        raise InvalidInput("body", _TOO_DEEP) from None


def decode_value(raw: bytes, field: str) -> Any:
    """Any JSON value a job may carry (a gRPC payload, a worker's result), held to the same rules
    as a REST payload: well-formed, no NUL, finite numbers, at most 64 levels deep."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidInput(field, "must be JSON") from None
    except RecursionError:
        raise InvalidInput(field, _TOO_DEEP) from None
    _check_value(value, field)
    return value


def _check_value(value: Any, field: str, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidInput(field, _TOO_DEEP)
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(field, "NUL characters are not allowed in strings")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(field, "NaN and Infinity are not JSON numbers")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_value(key, field, depth + 1)
            _check_value(item, f"{field}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{field}[{index}]", depth + 1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _run_at(value: datetime | None, field: str) -> datetime | None:
    """In UTC, from 1970 to ``MAX_DELAY_SECONDS`` ahead: what both stores can hold and order."""
    if value is None:
        return None
    latest = datetime.now(UTC) + timedelta(seconds=MAX_DELAY_SECONDS)
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not _EPOCH <= in_utc <= latest:
        raise InvalidInput(field, f"must be from {_EPOCH:%Y-%m-%dT%H:%M:%SZ} to "
                                  f"{MAX_DELAY_SECONDS // 86400} days from now")
    return in_utc


def encode_payload(payload: dict[str, Any] | None, limits: Limits, field: str) -> bytes:
    """A job's payload checked (no NUL, finite numbers, not too deep) and encoded, within the
    size limit; ``None`` is ``{}``."""
    value = payload if payload is not None else {}
    _check_value(value, field)
    encoded = _encoder.encode(value)
    if len(encoded) > limits.max_payload_bytes:
        raise TooLarge(field, f"{len(encoded)} bytes is over the limit of "
                              f"{limits.max_payload_bytes}")
    return encoded


def to_spec(req: EnqueueRequest, limits: Limits, field: str = "") -> JobSpec:
    """Check what the struct's types cannot say, then encode the payload once."""
    prefix = f"{field}." if field else ""
    if not math.isfinite(req.delay_seconds):
        raise InvalidInput(f"{prefix}delay_seconds", "must be a finite number")
    if req.timeout_seconds is not None and not math.isfinite(req.timeout_seconds):
        raise InvalidInput(f"{prefix}timeout_seconds", "must be a finite number")
    if req.unique_for_seconds is not None and req.unique_key is None:
        raise InvalidInput(f"{prefix}unique_for_seconds", "needs a unique_key")
    encoded = encode_payload(req.payload, limits, f"{prefix}payload")
    parents = tuple(req.depends_on or ())
    check_parents(req.id, parents, f"{prefix}depends_on")
    return JobSpec(
        id=req.id or new_job_id(),
        type=req.type,
        payload=encoded,
        queue=req.queue,
        priority=req.priority,
        max_retries=req.max_retries,
        delay_seconds=float(req.delay_seconds),
        run_at=_run_at(req.run_at, f"{prefix}run_at"),
        timeout_seconds=(None if req.timeout_seconds is None
                         else round_timeout(float(req.timeout_seconds))),
        unique_key=req.unique_key,
        unique_for=req.unique_for_seconds,
        depends_on=parents,
        traceparent=(None if req.traceparent is None
                     else check_traceparent(req.traceparent, f"{prefix}traceparent")),
    )


def decode_enqueue(raw: bytes, limits: Limits) -> JobSpec:
    return to_spec(decode_body(raw, EnqueueRequest), limits)


def decode_batch(raw: bytes, limits: Limits) -> list[JobSpec]:
    batch: BatchRequest = decode_body(raw, BatchRequest)
    return specs_from_requests(batch.jobs, limits)


def specs_from_requests(reqs: Sequence[EnqueueRequest], limits: Limits) -> list[JobSpec]:
    if not reqs:
        raise InvalidInput("jobs", "must hold at least one job")
    if len(reqs) > limits.max_batch_jobs:
        raise TooLarge("jobs", f"{len(reqs)} jobs is over the limit of {limits.max_batch_jobs}")
    fields = [f"jobs[{i}]" for i in range(len(reqs))]
    specs = [to_spec(req, limits, field) for req, field in zip(reqs, fields, strict=True)]
    if any(s.depends_on for s in specs):
        parents_first(specs, fields)  # a cycle inside the batch is refused here
    return specs


def specs_from_builtins(jobs: Sequence[dict[str, Any]], limits: Limits) -> list[JobSpec]:
    """The batch rule for producers that are not JSON bodies (gRPC): each job a dict of the
    ``EnqueueRequest`` fields, checked exactly as ``decode_batch`` checks them."""
    try:
        batch = msgspec.convert({"jobs": list(jobs)}, BatchRequest, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(*_field_of(str(exc))) from None
    return specs_from_requests(batch.jobs, limits)
