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

from quorra.core.jobs import Job

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
