"""Hand-off: a job enqueued while a worker of this server waits for its queue is stored already
leased to that worker, in the enqueue's own statement and commit.

An idle stream that found nothing to lease posts an ``Offer`` (up to ``limit`` jobs of some
queues) in this process's ``Lessees`` while it waits. An enqueue batch claims offers for its
ready jobs before it inserts; the insert leases those jobs to the offer's worker unless a ready
job of the queue would come first (higher priority, or as high and older) or the queue is
paused, and after the commit each claimed offer is answered with the jobs it got (maybe none:
its stream then leases as usual). An offer withdrawn meanwhile (its stream stopped) refuses the
jobs and the broker releases them. No lease query, no wake-up: enqueue → handler start loses a
statement and a hop. Pure bookkeeping, no I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from quorra.core.jobs import Job, JobSpec

__all__ = ["Lessees", "Offer"]


class Offer:
    """An idle lease request: up to ``limit`` jobs of ``queues`` for ``worker_id``."""

    def __init__(self, queues: Sequence[str], *, worker_id: str, limit: int,
                 ttl: float) -> None:
        self.queues = tuple(queues)
        self.worker_id = worker_id
        self.limit = limit
        self.ttl = ttl
        self.open = True  # false once withdrawn: jobs handed to it now are refused
        self.claimed = False  # an insert took it: its answer comes when that commits or fails
        self.jobs: asyncio.Future[list[Job]] = asyncio.get_running_loop().create_future()


class Lessees:
    """The open offers of this process, oldest first per queue."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[Offer]] = {}

    def post(self, offer: Offer) -> None:
        for queue in offer.queues:
            self._waiting.setdefault(queue, []).append(offer)

    def claim(self, queue: str) -> Offer | None:
        """The oldest open offer for ``queue``, taken out of the registry (one batch uses it)."""
        for offer in self._waiting.get(queue, ()):
            if offer.open:
                self._remove(offer)
                offer.claimed = True
                return offer
        return None

    def deliver(self, offer: Offer, jobs: list[Job]) -> bool:
        """Answer a claimed offer; False if it was withdrawn (the caller releases ``jobs``)."""
        if not offer.open or offer.jobs.done():
            return False
        offer.jobs.set_result(jobs)
        return True

    def withdraw(self, offer: Offer) -> list[Job]:
        """Close ``offer``: the jobs it was handed, or ``[]`` (later hand-offs are refused)."""
        offer.open = False
        self._remove(offer)
        if offer.jobs.done() and not offer.jobs.cancelled():
            return offer.jobs.result()
        return []

    def claim_for(self, specs: Sequence[JobSpec]) -> list[Offer | None] | None:
        """An offer for each ready job of an enqueue batch, up to each offer's limit, or None
        when no job gets one. Unique jobs and jobs with parents (a batch with any) and delayed
        jobs get none."""
        if any(s.unique_key is not None or s.depends_on for s in specs):
            return None
        current: dict[str, list[Any]] = {}  # queue -> [offer or None, jobs given to it]
        offers: list[Offer | None] = []
        for spec in specs:
            if spec.run_at is not None or spec.delay_seconds > 0:
                offers.append(None)
                continue
            slot = current.get(spec.queue)
            if slot is None or (slot[0] is not None and slot[1] >= slot[0].limit):
                slot = current[spec.queue] = [self.claim(spec.queue), 0]
            slot[1] += 1
            offers.append(slot[0])
        return offers if any(offers) else None

    def answer(self, specs: Sequence[JobSpec], offers: Sequence[Offer | None],
               leased: list[Job]) -> list[Job]:
        """Answer each claimed offer with the jobs its batch leased to it (maybe none); the
        jobs of offers withdrawn meanwhile come back, for the caller to release."""
        by_id = {job.id: job for job in leased}
        given: dict[Offer, list[Job]] = {}
        for spec, offer in zip(specs, offers, strict=True):
            if offer is not None:
                job = by_id.pop(spec.id, None)
                given.setdefault(offer, []).extend([] if job is None else [job])
        return [job for offer, jobs in given.items() if not self.deliver(offer, jobs)
                for job in jobs]

    def waiting(self, queue: str) -> bool:
        return any(offer.open for offer in self._waiting.get(queue, ()))

    def _remove(self, offer: Offer) -> None:
        for queue in offer.queues:
            offers = self._waiting.get(queue)
            if offers is None:
                continue
            if offer in offers:
                offers.remove(offer)
            if not offers:
                del self._waiting[queue]
