"""JobService: the use-cases. The front doors (REST, gRPC, scheduler) call this; it coordinates
the broker, the archive and the metrics, and owns nothing else."""

from __future__ import annotations

import collections
import contextlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from quorra.archive.base import Archive, JobFilter, JobPage
from quorra.broker.base import Broker, CancelHook, Cancelled, Settled
from quorra.broker.handoff import Lessees, Offer
from quorra.core.errors import InvalidInput, JobNotFound, LeaseLost
from quorra.core.jobs import Enqueued, Job, JobSpec, JobStatus, QueueCount, clamp_lease_ttl
from quorra.core.limits import QueueLimits, check_limits
from quorra.core.spec import check_queue, clean_error
from quorra.metrics import Metrics
from quorra.tracing.spans import enqueue_span, queued_spans

__all__ = ["CANCEL_BATCH", "MAX_CANCEL_BATCHES", "JobService"]

CANCEL_BATCH = 1000  # jobs per bulk-cancel statement
MAX_CANCEL_BATCHES = 1000  # statements per bulk-cancel request (up to 1,000,000 jobs)


class JobService:
    def __init__(self, broker: Broker, archive: Archive, metrics: Metrics, *,
                 default_lease_ttl: float = 30.0, lessees: Lessees | None = None) -> None:
        self.broker = broker
        self.archive = archive
        self.metrics = metrics
        self.default_lease_ttl = default_lease_ttl
        self.lessees = lessees  # where idle streams wait for hand-offs (None: no hand-off)

    def _ttl(self, ttl: float) -> float:
        return clamp_lease_ttl(ttl) if ttl > 0 else self.default_lease_ttl

    async def enqueue(self, specs: Sequence[JobSpec]) -> list[Enqueued]:
        with enqueue_span(specs):
            done = await self.broker.enqueue(specs)
        created = collections.Counter(  # a retried id is not a new job
            spec.queue for spec, item in zip(specs, done, strict=True) if item.created)
        for queue, count in created.items():
            self.metrics.created.labels(self.metrics.queue(queue)).inc(count)
        for spec, item in zip(specs, done, strict=True):
            if item.duplicate:
                self.metrics.deduplicated.labels(self.metrics.queue(spec.queue)).inc()
        return done

    async def lease(self, queues: Sequence[str], *, worker_id: str, limit: int,
                    ttl: float = 0) -> list[Job]:
        jobs = await self.broker.lease(queues, worker_id=worker_id, limit=limit,
                                       ttl=self._ttl(ttl))
        self._count_leased(jobs)
        return jobs

    def post_offer(self, queues: Sequence[str], *, worker_id: str, limit: int,
                   ttl: float = 0) -> Offer | None:
        """Wait idle for up to ``limit`` jobs of ``queues`` enqueued on this server: they are
        leased to ``worker_id`` in their insert (``quorra/broker/handoff.py``). None when this
        server hands off nothing."""
        if self.lessees is None:
            return None
        offer = Offer(queues, worker_id=worker_id, limit=limit, ttl=self._ttl(ttl))
        self.lessees.post(offer)
        return offer

    def withdraw_offer(self, offer: Offer) -> list[Job]:
        """Stop waiting: the jobs handed to ``offer`` (leased to its worker), or ``[]``."""
        assert self.lessees is not None
        jobs = self.lessees.withdraw(offer)
        self._count_leased(jobs)
        return jobs

    def _count_leased(self, jobs: Sequence[Job]) -> None:
        queued_spans(jobs)
        now = datetime.now(UTC)
        for job in jobs:
            label = self.metrics.queue(job.queue)
            self.metrics.leased.labels(label).inc()
            if job.attempts > 1:
                self.metrics.redelivered.labels(label).inc()
            # Both ends from the store's clock: app and database clocks may disagree.
            waited = ((job.leased_at or now) - job.run_at).total_seconds()
            self.metrics.wait_seconds.labels(label).observe(max(waited, 0.0))

    async def ack(self, job_id: uuid.UUID, lease_id: uuid.UUID, result: Any = None) -> Settled:
        with self._refusals("ack"):
            settled = await self.broker.ack(job_id, lease_id, result)
        self._observe(settled)
        return settled

    async def ack_many(self, acks: Sequence[tuple[uuid.UUID, uuid.UUID, Any]]
                       ) -> list[Settled]:
        """Ack a batch in one transaction; returns those whose lease was live."""
        done = await self.broker.ack_many(acks)
        if len(done) < len(acks):
            self.metrics.settlements_refused.labels("ack").inc(len(acks) - len(done))
        for settled in done:
            self._observe(settled)
        return done

    async def nack(self, job_id: uuid.UUID, lease_id: uuid.UUID, error: str, *,
                   retry: bool = True) -> Settled:
        with self._refusals("nack"):
            settled = await self.broker.nack(job_id, lease_id, clean_error(error), retry=retry)
        self._observe(settled)
        return settled

    async def extend(self, job_id: uuid.UUID, lease_id: uuid.UUID, ttl: float = 0) -> datetime:
        with self._refusals("extend"):
            return await self.broker.extend(job_id, lease_id, self._ttl(ttl))

    async def release(self, leases: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> list[uuid.UUID]:
        """Give jobs back unrun (not a failed attempt): see ``Broker.release``."""
        released = await self.broker.release(leases)
        if len(released) < len(leases):
            self.metrics.settlements_refused.labels("release").inc(len(leases) - len(released))
        return released

    async def reap_expired(self) -> list[Settled]:
        reaped = await self.broker.reap_expired()
        for settled in reaped:
            self._observe(settled, ran=False)  # an expired lease says nothing of run time
            self.metrics.lease_expiries.labels(self.metrics.queue(settled.queue)).inc()
            if settled.timed_out:
                self.metrics.timed_out.labels(self.metrics.queue(settled.queue)).inc()
        return reaped

    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        await self.broker.wait_for_jobs(queues, timeout)

    async def get(self, job_id: uuid.UUID) -> Job:
        return await self.archive.get(job_id)

    async def recent(self, limit: int) -> list[Job]:
        return await self.archive.recent(limit)

    async def list_jobs(self, where: JobFilter, *, limit: int,
                        after: tuple[datetime, uuid.UUID] | None = None,
                        max_bytes: int | None = None) -> JobPage:
        return await self.archive.list_jobs(where, limit=limit, after=after, max_bytes=max_bytes)

    async def retry(self, job_id: uuid.UUID) -> Job:
        """Operator retry of a dead (or cancelled) job."""
        return await self.broker.retry(job_id)

    async def retry_dead(self, queue: str) -> int:
        return await self.broker.retry_dead(queue)

    async def delete(self, job_id: uuid.UUID) -> None:
        await self.broker.delete(job_id)

    async def cancel(self, job_id: uuid.UUID) -> Job:
        """Cancel a pending or running job (``Broker.cancel``); the job as it is now. A worker
        holding it is told through ``on_cancel``'s hooks."""
        cancelled = await self.broker.cancel(job_id)
        self._count_cancelled([cancelled])
        assert cancelled.job is not None
        return cancelled.job

    async def cancel_many(self, queue: str | None, job_type: str | None) -> int:
        """Cancel every unfinished job of ``queue`` and/or ``job_type`` in batches of
        ``CANCEL_BATCH`` (at most ``MAX_CANCEL_BATCHES``); returns how many."""
        if queue is None and job_type is None:
            raise InvalidInput("queue", "name a queue, a type or both")
        if queue is not None:
            check_queue(queue)
        total = 0
        for _ in range(MAX_CANCEL_BATCHES):
            done = await self.broker.cancel_many(queue, job_type, CANCEL_BATCH)
            self._count_cancelled(done)
            total += len(done)
            if not done:
                break
        return total

    def on_cancel(self, hook: CancelHook) -> None:
        """``hook(job_id, lease_id)`` for each lease a cancel voided, on any replica."""
        self.broker.on_cancel(hook)

    def _count_cancelled(self, cancelled: Sequence[Cancelled]) -> None:
        for queue, count in collections.Counter(c.queue for c in cancelled if c.changed).items():
            self.metrics.cancelled.labels(self.metrics.queue(queue)).inc(count)

    async def set_paused(self, queue: str, paused: bool) -> None:
        """Pause or resume ``queue`` on every replica (``Broker.set_paused``). ``InvalidInput``
        for a malformed name, ``QueueNotFound`` for a queue nobody used."""
        check_queue(queue)
        await self.broker.set_paused(queue, paused)
        self.metrics.set_paused([(queue, paused)])

    async def set_limits(self, queue: str, limits: QueueLimits) -> QueueLimits:
        """Replace ``queue``'s limits on every replica (``Broker.set_limits``); ``InvalidInput``
        for a malformed name or limit."""
        check_queue(queue)
        await self.broker.set_limits(queue, check_limits(limits))
        self.metrics.set_limits({queue: limits})
        return limits

    async def get_limits(self, queue: str) -> QueueLimits:
        check_queue(queue)
        return await self.broker.get_limits(queue)

    async def queue_limits(self) -> dict[str, QueueLimits]:
        return await self.archive.queue_limits()

    async def paused_queues(self) -> list[str]:
        return [queue for queue, paused in await self.archive.queue_states() if paused]

    async def queue_states(self) -> list[tuple[str, bool]]:
        """``(queue, paused)`` of every queue ever paused (resumed ones read false)."""
        return await self.archive.queue_states()

    async def purge_finished(self, status: JobStatus, age: float, *, batch: int,
                             max_batches: int) -> int:
        """Delete jobs of the finished ``status`` older than ``age`` seconds, ``batch`` rows per
        statement and at most ``max_batches`` statements; returns how many."""
        total = 0
        for _ in range(max_batches):
            deleted = len(await self.broker.purge_finished(status, age, batch))
            total += deleted
            if deleted < batch:
                break
        if total:
            self.metrics.deleted.labels(status.value).inc(total)
        return total

    async def fold_counts(self) -> None:
        await self.broker.fold_counts()

    async def ready_for(self, queues: Sequence[str], age: float) -> bool:
        """Whether a job of ``queues`` has waited, ready, for over ``age`` seconds."""
        return await self.archive.ready_for(list(queues), age)

    async def queue_counts(self) -> list[QueueCount]:
        return await self.archive.queue_counts()

    async def refresh_queue_gauge(self) -> None:
        """Set ``quorra_job_queue_length``, ``quorra_leases_in_flight`` and
        ``quorra_queue_paused`` from the store (right with any number of replicas)."""
        self.metrics.set_queue_counts(await self.archive.queue_counts())
        self.metrics.set_paused(await self.archive.queue_states())
        self.metrics.set_limits(await self.archive.queue_limits(), every=True)

    @contextlib.contextmanager
    def _refusals(self, op: str) -> Iterator[None]:
        """Count a settlement or extension the store refused (unknown job or lost lease)."""
        try:
            yield
        except (LeaseLost, JobNotFound):
            self.metrics.settlements_refused.labels(op).inc()
            raise

    def _observe(self, settled: Settled, *, ran: bool = True) -> None:
        label = self.metrics.queue(settled.queue)
        if ran:
            self.metrics.run_seconds.labels(label).observe(max(settled.ran_seconds, 0.0))
        if settled.status in (JobStatus.SUCCEEDED, JobStatus.DEAD):
            self.metrics.end_to_end_seconds.labels(label, settled.status.value).observe(
                max(settled.age_seconds, 0.0))
        if settled.status is JobStatus.SUCCEEDED:
            self.metrics.processed.labels(label).inc()
            return
        self.metrics.failed.labels(label).inc()
        if settled.status is JobStatus.DEAD:
            self.metrics.dead.labels(label).inc()
