"""The hand-off registry (``quorra/broker/handoff.py``): who gets a job enqueued while streams
wait, and what a withdrawn offer does with jobs handed to it late."""

from __future__ import annotations

from typing import Any

from quorra.broker.handoff import Lessees, Offer


def offer(*queues: str, limit: int = 4) -> Offer:
    return Offer(queues or ("default",), worker_id="w", limit=limit, ttl=30)


async def test_the_oldest_open_offer_of_a_queue_is_claimed_once() -> None:
    lessees = Lessees()
    first, second, other = offer(), offer("default", "mail"), offer("mail")
    for o in (first, second, other):
        lessees.post(o)
    assert lessees.claim("default") is first and first.claimed
    assert lessees.claim("default") is second
    assert lessees.claim("default") is None and not lessees.waiting("default")
    assert lessees.claim("mail") is other  # ``second`` left every queue's list when claimed
    assert lessees.claim("unknown") is None


async def test_a_withdrawn_offer_is_never_claimed_and_refuses_late_jobs() -> None:
    lessees = Lessees()
    late = offer()
    lessees.post(late)
    claimed = lessees.claim("default")
    assert claimed is late
    assert lessees.withdraw(late) == []
    jobs: list[Any] = ["job"]
    assert not lessees.deliver(late, jobs)  # the broker releases them
    gone = offer()
    lessees.post(gone)
    lessees.withdraw(gone)
    assert lessees.claim("default") is None


async def test_delivered_jobs_are_what_the_withdraw_returns() -> None:
    lessees = Lessees()
    answered = offer()
    lessees.post(answered)
    assert lessees.claim("default") is answered
    jobs: list[Any] = ["a", "b"]
    assert lessees.deliver(answered, jobs)
    assert not lessees.deliver(answered, jobs[:1])  # answered once
    assert lessees.withdraw(answered) == jobs
