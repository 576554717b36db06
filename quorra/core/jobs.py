"""Job states, the job record, and the documented input limits."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_QUEUE",
    "LEASE_TTL_MAX",
    "LEASE_TTL_MIN",
    "MAX_DELAY_SECONDS",
    "MAX_DEPENDENCIES",
    "MAX_RETRIES_LIMIT",
    "MAX_TIMEOUT_SECONDS",
    "MAX_UNIQUE_FOR_SECONDS",
    "MAX_UNIQUE_KEY_CHARS",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "TERMINAL_STATUSES",
    "TIMED_OUT",
    "Enqueued",
    "Job",
    "JobSpec",
    "JobStatus",
    "QueueCount",
    "clamp_lease_ttl",
    "round_timeout",
]

PRIORITY_MIN = -1_000_000
PRIORITY_MAX = 1_000_000
MAX_DELAY_SECONDS = 366 * 24 * 3600
MAX_RETRIES_LIMIT = 100
DEFAULT_MAX_RETRIES = 3
DEFAULT_QUEUE = "default"
MAX_UNIQUE_KEY_CHARS = 255
MAX_DEPENDENCIES = 100  # parents one job may list in depends_on
MAX_UNIQUE_FOR_SECONDS = 366 * 24 * 3600  # a unique key's window: up to a (leap) year
LEASE_TTL_MIN = 1.0
LEASE_TTL_MAX = 24 * 3600.0
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0  # a job's time limit: more than 0, at most 7 days
TIMED_OUT = "timed out"  # last_error of an attempt whose lease ran out at the job's deadline


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    BLOCKED = "blocked"  # waiting for the jobs it depends on (never leased until pending)
    LEASED = "leased"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.DEAD, JobStatus.CANCELLED})


class JobSpec(msgspec.Struct, frozen=True):
    """A validated job, ready to store. ``payload`` is the job's JSON object, encoded."""

    id: uuid.UUID
    type: str
    payload: bytes
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    max_retries: int = DEFAULT_MAX_RETRIES
    delay_seconds: float = 0.0
    run_at: datetime | None = None
    timeout_seconds: float | None = None  # each attempt's time limit (None: none)
    # Held per queue: an enqueue with a key already held answers the holder (see Enqueued).
    # unique_for: the key is held that many seconds; None: until the job finishes.
    unique_key: str | None = None
    unique_for: float | None = None
    # Parents: jobs already stored or in the same batch; blocked until every one succeeded.
    depends_on: tuple[uuid.UUID, ...] = ()
    # The producer's W3C traceparent (normal form, version 00): its trace goes on in the
    # server's and the worker's spans for this job.
    traceparent: str | None = None


class Enqueued(msgspec.Struct, frozen=True, omit_defaults=True):
    id: uuid.UUID
    status: JobStatus
    run_at: datetime
    created: bool = True  # False: the id was already stored (a producer's retry), nothing new
    # True: the spec's unique_key was held; this is the job holding it (nothing was stored)
    duplicate: bool = False


class Job(msgspec.Struct, frozen=True):
    id: uuid.UUID
    type: str
    payload: Any
    queue: str
    priority: int
    status: JobStatus
    attempts: int
    max_retries: int
    last_error: str | None
    result: Any
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    lease_id: uuid.UUID | None = None
    leased_at: datetime | None = None
    leased_by: str | None = None
    lease_expires_at: datetime | None = None
    finished_at: datetime | None = None
    timeout_seconds: float | None = None

    @property
    def deadline(self) -> datetime | None:
        """This attempt's time limit: lease start + timeout (None: no limit or not leased)."""
        if self.timeout_seconds is None or self.leased_at is None:
            return None
        return self.leased_at + timedelta(seconds=self.timeout_seconds)
    unique_key: str | None = None
    depends_on: list[uuid.UUID] | None = None  # the reads that show a job
    dependents: list[uuid.UUID] | None = None  # GET of one job: who depends on it
    traceparent: str | None = None  # the producer's W3C traceparent, if it sent one


class QueueCount(msgspec.Struct, frozen=True):
    queue: str
    status: JobStatus
    count: int


def round_timeout(seconds: float) -> float:
    """A time limit as stored: to the millisecond (every lease path cuts deadlines in whole
    milliseconds), at least 1 ms."""
    return max(round(seconds, 3), 0.001)


def clamp_lease_ttl(seconds: float) -> float:
    """Lease TTLs are clamped to [1 s, 24 h]; 0 or less means the caller's default."""
    return min(max(seconds, LEASE_TTL_MIN), LEASE_TTL_MAX)
