"""The broker interface: one method per job operation, each a thin translation in a driver.

Every driver keeps the same contract (``tests/contract``): leases carry an id and a deadline;
``attempts`` counts at lease time; ack, nack and extend are fenced by ``(id, lease_id)`` on a live
lease and raise ``LeaseLost`` otherwise, changing nothing. Operators' transitions (retry a dead
job, delete a job) raise ``InvalidTransition`` when the job's state does not allow them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import msgspec

from quorra.broker.handoff import Lessees
from quorra.core.jobs import Enqueued, Job, JobSpec, JobStatus
from quorra.core.limits import QueueLimits

__all__ = ["Broker", "BrokerEvents", "CancelHook", "Cancelled", "Chore", "Settled"]


class Settled(msgspec.Struct, frozen=True):
    """The outcome of ending a lease (ack, nack or expiry): the job's new status, its queue, how
    long the lease had run and how long ago the job was enqueued; ``timed_out`` for an expiry
    at the job's deadline; ``parent`` when jobs depend on it (its outcome unblocked or
    cancelled them)."""

    id: uuid.UUID
    queue: str
    status: JobStatus
    ran_seconds: float
    age_seconds: float = 0.0
    timed_out: bool = False
    parent: bool = False


class Cancelled(msgspec.Struct, frozen=True):
    """A job a cancel moved to ``cancelled`` (``changed``) or found so already; ``lease_id``
    names the lease the cancel voided when a worker held the job (its holder must stop it).
    ``job`` is the job as it is now (single cancels only; bulk cancels leave it out)."""

    id: uuid.UUID
    queue: str
    changed: bool
    lease_id: uuid.UUID | None = None
    job: Job | None = None


CancelHook = Callable[[uuid.UUID, uuid.UUID], None]
"""Told ``(job_id, lease_id)`` of every lease a cancel voided, on any replica."""


Chore = tuple[str, Callable[[], Awaitable[object]], float]
"""A periodic chore of a driver: its name, the call, every how many seconds (housekeeping)."""


class BrokerEvents(Protocol):
    """What a driver reports while it runs (``quorra.metrics.Metrics`` implements it); a driver
    calls only those its mode has."""

    def jobs_unblocked(self, jobs: Iterable[tuple[object, str]]) -> None:
        """``(job id, queue)`` of jobs a parent's success made pending here."""

    def mode_changed(self, mode: str) -> None:
        """Dispatch switched to ``mode`` (``redis``, ``postgres``, ``rebuilding``)."""

    def set_redis_config(self, checks: Mapping[str, bool]) -> None:
        """The Redis configuration check's verdicts, by check."""

    def leases_lost(self, count: int) -> None:
        """Leases held only in Redis that a rebuild could not recover."""

    def expired_in_redis(self, queue: str, count: int) -> None:
        """Leases of ``queue`` taken back by their deadline in Redis."""


class Broker(Protocol):
    async def start(self) -> None:
        """Start the driver's own tasks (listeners, the Redis supervisor)."""

    async def close(self) -> None:
        """Stop them and close the clients the driver owns."""

    def chores(self) -> list[Chore]:
        """The driver's periodic chores, which housekeeping runs on every replica."""

    def health(self) -> dict[str, Any]:
        """``/readyz``'s dispatch section: ``mode`` and ``redis``."""

    async def config_report(self) -> dict[str, Any]:
        """Extra ``/readyz`` sections about the driver's backing store (never unreadiness)."""

    def report_to(self, events: BrokerEvents) -> None:
        """Send the driver's events (mode switches, unblocked jobs…) to ``events``."""

    async def enqueue(self, specs: Sequence[JobSpec]) -> list[Enqueued]:
        """Store jobs durably (committed on return), in order; all or none."""

    def hand_off(self, lessees: Lessees | None) -> None:
        """Lease ready jobs enqueued through this broker to the idle lessees posted in
        ``lessees`` in the insert itself, where the driver can (``quorra/broker/handoff.py``);
        a driver that cannot ignores it."""

    async def lease(
        self, queues: Sequence[str], *, worker_id: str, limit: int, ttl: float
    ) -> list[Job]:
        """Lease up to ``limit`` ready jobs, highest priority then oldest first."""

    async def ack(self, job_id: uuid.UUID, lease_id: uuid.UUID, result: Any = None) -> Settled:
        """Mark a leased job succeeded, storing ``result``."""

    async def ack_many(
        self, acks: Sequence[tuple[uuid.UUID, uuid.UUID, Any]]
    ) -> list[Settled]:
        """Ack a batch of ``(job_id, lease_id, result)`` in one transaction. Each is fenced like
        ``ack``; stale ones are skipped and absent from the result."""

    async def nack(
        self, job_id: uuid.UUID, lease_id: uuid.UUID, error: str, *, retry: bool = True
    ) -> Settled:
        """Record a failed attempt: back to ``pending`` after backoff, or ``dead``."""

    async def extend(self, job_id: uuid.UUID, lease_id: uuid.UUID, ttl: float) -> datetime:
        """Push a live lease's deadline to now + ``ttl``, never past the job's deadline (lease
        start + its timeout); returns the new deadline."""

    async def release(self, leases: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> list[uuid.UUID]:
        """Give leased jobs back unrun: ``pending``, ready now, the attempt not counted, and
        waiting lessees woken. Takes ``(job_id, lease_id)`` pairs; stale pairs are skipped.
        Returns the ids released."""

    async def reap_expired(self, limit: int = 500) -> list[Settled]:
        """Turn expired leases into failed attempts (``last_error`` = lease expired, or timed out
        when the lease ran to the job's deadline)."""

    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        """Return when a job may have become ready in one of ``queues``, or after ``timeout``."""

    async def retry(self, job_id: uuid.UUID) -> Job:
        """Put a ``dead`` (or ``cancelled``) job back to ``pending``, ready now, with
        ``attempts`` reset to 0 and ``last_error`` kept; wakes waiting lessees.
        ``InvalidTransition`` in any other state, ``JobNotFound`` if unknown."""

    async def retry_dead(self, queue: str) -> int:
        """``retry`` every dead job of ``queue``; returns how many."""

    async def delete(self, job_id: uuid.UUID) -> None:
        """Remove a job for good. ``InvalidTransition`` while it is ``leased`` (a worker holds
        it), ``JobNotFound`` if unknown."""

    async def cancel(self, job_id: uuid.UUID) -> Cancelled:
        """Move a ``pending`` (ready, delayed or backing off) or ``leased`` job to ``cancelled``
        at once: it is never leased again, and a lease it had is void (its ack, nack, extend
        and release are refused). Idempotent on a cancelled job (``changed`` false);
        ``InvalidTransition`` for a succeeded or dead job, ``JobNotFound`` if unknown."""

    async def cancel_many(self, queue: str | None, type_: str | None,
                          limit: int) -> list[Cancelled]:
        """``cancel`` up to ``limit`` unfinished jobs of ``queue`` and/or ``type_`` (one bounded
        batch; call again until it returns none). Jobs locked by a concurrent transition are
        skipped by this batch."""

    def on_cancel(self, hook: CancelHook) -> None:
        """Call ``hook(job_id, lease_id)`` for every lease a cancel voided, whichever replica
        cancelled it (this one at once, others through the store's notifications)."""

    async def set_paused(self, queue: str, paused: bool) -> None:
        """Pause (no job of ``queue`` is leased by any replica, in either dispatch mode, until
        resumed; enqueues are still accepted) or resume ``queue``, waking waiting lessees. Kept
        in the store, so it survives restarts. ``QueueNotFound`` for a queue with no job and no
        pause flag."""

    async def set_limits(self, queue: str, limits: QueueLimits) -> None:
        """Replace ``queue``'s limits (``QueueLimits()``: none), kept in the store: at most
        ``max_concurrency`` of its jobs leased at once and ``rate_limit`` leases per
        ``rate_period`` seconds, across every worker and replica, in every dispatch mode. A queue
        may be limited before its first job."""

    async def get_limits(self, queue: str) -> QueueLimits:
        """``queue``'s limits (``QueueLimits()`` when it has none)."""

    async def purge_finished(self, status: JobStatus, age: float, limit: int) -> list[str]:
        """Delete up to ``limit`` jobs in the finished ``status`` that finished over ``age``
        seconds ago, oldest first; each row once across replicas. Returns their queues."""

    async def fold_counts(self) -> None:
        """Fold the store's running finished-job counts (housekeeping; any replica)."""
