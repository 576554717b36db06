"""Cutting messages by bytes as well as by count (``quorra.rpc.batches``, ``quorra.core.sizes``)."""

from __future__ import annotations

import pytest

from quorra.core.errors import TooLarge
from quorra.core.sizes import (
    GRPC_DEFAULT_MESSAGE_BYTES,
    MESSAGE_SLACK_BYTES,
    check_size,
    grpc_message_bytes,
    largest_job_bytes,
)
from quorra.rpc.batches import budget_of, cuts, field_size, session_requests, session_responses
from quorra.rpc.proto import quorra_pb2 as pb

KIB = 1024


def job(n: int, size: int) -> pb.Job:
    return pb.Job(id=f"job-{n}", type="t", queue="default", payload=b"x" * size,
                  lease_id="lease")


def test_cuts_keep_order_and_stay_under_the_budget() -> None:
    assert list(cuts([4, 4, 4, 4, 4], 10)) == [(0, 2), (2, 4), (4, 5)]
    assert list(cuts([], 10)) == []
    assert list(cuts([3, 3, 3], 10, max_items=2)) == [(0, 2), (2, 3)]


def test_an_item_over_the_budget_goes_alone() -> None:
    assert list(cuts([1, 50, 1, 1], 10)) == [(0, 1), (1, 2), (2, 4)]
    assert list(cuts([50], 10)) == [(0, 1)]


def test_field_size_is_exact() -> None:
    for size in (0, 1, 127, 128, 16_383, 16_384, 900 * KIB):
        item = job(1, size)
        assert field_size(item) == pb.SessionResponse(jobs=[item]).ByteSize()


@pytest.mark.parametrize("budget", [1, 1000, 64 * KIB, GRPC_DEFAULT_MESSAGE_BYTES])
def test_session_responses_respect_the_budget(budget: int) -> None:
    jobs = [job(n, (n * 37 % 11) * 100 * KIB) for n in range(50)]
    settled = [pb.Outcome(job_id=f"s{n}", lease_id="l", status="succeeded") for n in range(300)]
    extended = [pb.Outcome(job_id=f"e{n}", lease_id="l") for n in range(300)]
    responses = list(session_responses(jobs, settled, extended, budget))
    assert [j.id for r in responses for j in r.jobs] == [j.id for j in jobs]
    assert [o.job_id for r in responses for o in r.settled] == [o.job_id for o in settled]
    assert [o.job_id for r in responses for o in r.extended] == [o.job_id for o in extended]
    for response in responses:
        items = len(response.jobs) + len(response.settled) + len(response.extended)
        assert response.ByteSize() <= budget or items == 1


def test_fifty_large_jobs_fit_a_four_mib_worker() -> None:
    jobs = [job(n, 900 * KIB) for n in range(50)]
    responses = list(session_responses(jobs, [], [], GRPC_DEFAULT_MESSAGE_BYTES))
    assert all(r.ByteSize() <= GRPC_DEFAULT_MESSAGE_BYTES for r in responses)
    assert [len(r.jobs) for r in responses] == [4] * 12 + [2]


def test_nothing_to_send_is_no_message() -> None:
    assert list(session_responses([], [], [], 100)) == []
    assert list(session_requests([], [], 100)) == []


def test_session_requests_cut_large_results_and_many_items() -> None:
    settlements = [pb.Settlement(job_id=f"j{n}", lease_id="l", success=True,
                                 result=b"1" * (900 * KIB)) for n in range(20)]
    parts = list(session_requests(settlements, [], GRPC_DEFAULT_MESSAGE_BYTES))
    assert sum(len(done) for done, _ in parts) == 20
    for done, extended in parts:
        message = pb.SessionRequest(credit=1000, drain=True, settlements=done,
                                    extensions=extended)
        assert message.ByteSize() <= GRPC_DEFAULT_MESSAGE_BYTES
    small = [pb.Extension(job_id=f"j{n}", lease_id="l", lease_ttl_seconds=30)
             for n in range(2500)]
    assert [len(e) for _, e in session_requests([], small, 1 << 30, 1000)] == [1000, 1000, 500]


def test_budget_of_a_peer() -> None:
    assert budget_of(0, 10 << 20) == GRPC_DEFAULT_MESSAGE_BYTES
    assert budget_of(-5, 10 << 20) == GRPC_DEFAULT_MESSAGE_BYTES
    assert budget_of(64 << 20, 10 << 20) == 10 << 20
    assert budget_of(1000, 10 << 20) == 1000


def test_server_limits_hold_the_largest_job() -> None:
    mib = 1 << 20
    assert largest_job_bytes(mib) == 2 * mib + MESSAGE_SLACK_BYTES
    assert grpc_message_bytes(10 * mib, mib) == 10 * mib + MESSAGE_SLACK_BYTES
    assert grpc_message_bytes(8 * mib, 8 * mib) == largest_job_bytes(8 * mib)
    assert grpc_message_bytes(1000, 1000) == GRPC_DEFAULT_MESSAGE_BYTES + MESSAGE_SLACK_BYTES
    detail = pb.Job(id="x" * 36, type="t" * 255, queue="q" * 128, payload=b"p" * mib,
                    result=b"r" * mib, last_error="\U0001f600" * 4096, lease_id="l" * 36,
                    status="succeeded")
    assert detail.ByteSize() <= largest_job_bytes(mib)


def test_check_size_names_the_field() -> None:
    check_size(b"12345", 5, "result")
    with pytest.raises(TooLarge) as info:
        check_size(b"123456", 5, "result")
    assert info.value.field == "result" and "6 bytes" in info.value.message
