"""``Session._send_ready``: jobs the feed adds while a response is being written are neither
lost nor doubled (a doubled job is sent twice under one lease and runs twice)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.session import Session


def session(jobs_out: list[Any], settled: list[pb.Outcome]) -> Any:
    s: Any = Session.__new__(Session)
    s.jobs_out, s.settled_out, s.extended_out = jobs_out, settled, []
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
