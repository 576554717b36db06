"""Cron schedules: what a schedule is, how its input is checked, when it fires next, and the
job id each tick gets.

A tick's job id is a function of the schedule's name and the tick's time, so a tick enqueued
twice (two replicas, or a replica that died between enqueue and bookkeeping) is stored once:
the enqueue is idempotent per id.
"""

from __future__ import annotations

import hashlib
import uuid
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from apscheduler.triggers.cron import CronTrigger

from quorra.core.errors import InvalidInput
from quorra.core.jobs import DEFAULT_MAX_RETRIES, DEFAULT_QUEUE, JobSpec, round_timeout
from quorra.core.spec import (
    JobType,
    Limits,
    Priority,
    QueueName,
    Retries,
    Timeout,
    decode_body,
    encode_payload,
)

__all__ = [
    "JobTemplate",
    "Schedule",
    "ScheduleRequest",
    "decode_schedule",
    "next_fire",
    "tick_id",
    "tick_spec",
]

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
ScheduleName = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=_NAME_PATTERN)]
CronText = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
ZoneName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_FIELDS = ("second", "minute", "hour", "day", "month", "day_of_week")
_SECOND = timedelta(seconds=1)
_ENCODER = msgspec.json.Encoder()


class JobTemplate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The job each tick enqueues (the fields of ``POST /v1/jobs`` that make sense for it)."""

    type: JobType
    payload: dict[str, Any] | None = None
    queue: QueueName = DEFAULT_QUEUE
    priority: Priority = 0
    max_retries: Retries = DEFAULT_MAX_RETRIES
    timeout_seconds: Timeout | None = None  # None: the server's QUORRA_JOB_TIMEOUT


class ScheduleRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /v1/schedules`` (and ``PUT /v1/schedules/{name}``, without ``name``)."""

    cron: CronText
    job: JobTemplate
    name: ScheduleName | None = None
    timezone: ZoneName = "UTC"
    paused: bool = False


class Schedule(msgspec.Struct, frozen=True):
    name: str
    cron: str
    timezone: str
    job: JobTemplate
    paused: bool
    next_run_at: datetime
    last_run_at: datetime | None = None
    last_job_id: uuid.UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _trigger(cron: str, timezone: str) -> CronTrigger:
    """Five fields (minute hour day month weekday) or six (seconds first)."""
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("timezone", f"unknown time zone {timezone!r}") from None
    fields = cron.split()
    if len(fields) not in (5, 6):
        raise InvalidInput("cron", "must have 5 fields (minute hour day month weekday) or 6 "
                                   "(seconds first)")
    values = dict(zip(_FIELDS[6 - len(fields):], fields, strict=True))
    try:
        return CronTrigger(**({"second": "0"} | values), timezone=zone)
    except ValueError as exc:
        raise InvalidInput("cron", str(exc)) from None


def next_fire(cron: str, timezone: str, after: datetime) -> datetime:
    """The first tick strictly after ``after``, in UTC."""
    trigger = _trigger(cron, timezone)
    fire = trigger.get_next_fire_time(None, after)
    while fire is not None and fire <= after:  # the trigger may answer ``after`` itself
        fire = trigger.get_next_fire_time(fire, fire.replace(microsecond=0) + _SECOND)
    if not isinstance(fire, datetime):
        raise InvalidInput("cron", "never fires")
    return fire.astimezone(UTC)


def decode_schedule(raw: bytes, limits: Limits, name: str | None = None) -> Schedule:
    """A checked schedule from a request body (``name`` from the path wins); it fires first at
    its next tick from now."""
    request: ScheduleRequest = decode_body(raw, ScheduleRequest)
    chosen = name or request.name
    if not chosen:
        raise InvalidInput("name", "is required")
    encode_payload(request.job.payload, limits, "job.payload")
    first = next_fire(request.cron, request.timezone, datetime.now(UTC))
    return Schedule(name=chosen, cron=request.cron, timezone=request.timezone, job=request.job,
                    paused=request.paused, next_run_at=first)


def tick_id(name: str, fire_at: datetime) -> uuid.UUID:
    """A UUIDv7-shaped id: the tick's millisecond, then bits of a hash of (name, tick)."""
    ms = int(fire_at.timestamp() * 1000)
    digest = hashlib.sha256(f"{name}\x00{fire_at.isoformat()}".encode()).digest()
    rand = int.from_bytes(digest[:10], "big")
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & (2**62 - 1)
    return uuid.UUID(int=value)


def tick_spec(schedule: Schedule, fire_at: datetime) -> JobSpec:
    job = schedule.job
    return JobSpec(id=tick_id(schedule.name, fire_at), type=job.type,
                   payload=_ENCODER.encode(job.payload or {}), queue=job.queue,
                   priority=job.priority, max_retries=job.max_retries, run_at=fire_at,
                   timeout_seconds=(None if job.timeout_seconds is None
                                    else round_timeout(job.timeout_seconds)))

