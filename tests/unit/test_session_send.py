"""``Session._send_ready``: jobs the feed adds while a response is being written are neither
lost nor doubled (a doubled job is sent twice under one lease and runs twice)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.session import Session


def session(jobs_out: list[Any], settled: list[pb.Outcome]) -> Any:
    s: Any = Session.__new__(Session)
    s.jobs_out, s.settled_out, s.extended_out, s.cancelled_out = jobs_out, settled, [], []
    s.halt = SimpleNamespace(is_set=lambda: False)
    s.budget, s.in_flight, s.key = 1 << 20, 0, "k"
    s.host = SimpleNamespace(directory=SimpleNamespace(in_flight=lambda *_: None))
    return s


async def test_jobs_added_while_settlements_are_written_are_kept_once() -> None:
    s = session([], [pb.Outcome(job_id="a", lease_id="b", status="succeeded")])
    responses = s._send_ready()
    first = await anext(responses)
    assert list(first.settled) and not list(first.jobs)
    later = object()
    s.jobs_out.append(later)  # the feed, while the response is on the wire
    assert [r async for r in responses] == []
    assert s.jobs_out == [later]


def _cancellable(jobs_out: list[Any]) -> Any:
    import asyncio

    s = session(jobs_out, [])
    s.credit, s.in_flight, s.leases = 0, 1, {job.lease_id for job in jobs_out} | {"held"}
    s.credit_changed, s.ready = asyncio.Event(), asyncio.Event()
    s.host.holders = {lease: s for lease in s.leases}
    return s


async def test_cancel_of_an_unsent_job_keeps_it_and_gives_its_credit_back() -> None:
    unsent = SimpleNamespace(lease_id="unsent")
    s = _cancellable([unsent])
    s.cancel("job", "unsent")
    assert (s.jobs_out, s.credit, s.in_flight, s.cancelled_out) == ([], 1, 1, [])
    assert "unsent" not in s.host.holders and s.credit_changed.is_set()


async def test_cancel_of_a_held_job_tells_the_worker_after_its_jobs() -> None:
    s = _cancellable([])
    s.cancel("job", "held")
    assert (s.in_flight, s.host.holders) == (0, {})
    responses = [r async for r in s._send_ready()]
    assert [(c.job_id, c.lease_id) for r in responses for c in r.cancelled] == [("job", "held")]
