"""Cutting what one message would carry into messages under a byte budget.

Sizes are exact: an item of a repeated message field (field numbers below 16) adds its tag (one
byte), its length (a varint) and its own ``ByteSize()`` to the message. Items keep their order;
an item over the budget by itself goes alone (it was accepted, so it must be deliverable: the
server's own limits are above the largest job, see ``quorra.core.sizes``).

Used by the server (``Session`` responses) and by the worker SDK (settlements it sends).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from google.protobuf.message import Message

from quorra.core.sizes import GRPC_DEFAULT_MESSAGE_BYTES
from quorra.rpc.proto import quorra_pb2 as pb

__all__ = ["REQUEST_OVERHEAD", "budget_of", "cuts", "field_size", "session_requests",
           "session_responses"]

T = TypeVar("T")
REQUEST_OVERHEAD = 32  # credit (a varint) and drain (a bool) of a SessionRequest


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def field_size(item: Message) -> int:
    """The bytes ``item`` adds to a repeated field (number < 16) of the message holding it."""
    size = item.ByteSize()
    return 1 + _varint_size(size) + size


def budget_of(asked: int, ceiling: int) -> int:
    """The budget for a peer that announced ``asked`` bytes (<= 0: gRPC's default), never above
    ``ceiling`` (our own send limit)."""
    return min(asked if asked > 0 else GRPC_DEFAULT_MESSAGE_BYTES, ceiling)


def cuts(sizes: Sequence[int], budget: int, max_items: int | None = None
         ) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of consecutive runs of items whose ``sizes`` add up to at most
    ``budget`` (and at most ``max_items`` items); an item over the budget by itself is a run
    of its own."""
    most = max_items or len(sizes) or 1
    start = used = 0
    for index, cost in enumerate(sizes):
        if index > start and (used + cost > budget or index - start >= most):
            yield start, index
            start, used = index, 0
        used += cost
    if start < len(sizes):
        yield start, len(sizes)


def _part(items: Sequence[T], offset: int, start: int, end: int) -> list[T]:
    """The items of a run ``[start, end)`` of a list where ``items`` begin at ``offset``."""
    return list(items[max(start - offset, 0) : max(end - offset, 0)])


def session_responses(jobs: Sequence[pb.Job], settled: Sequence[pb.Outcome],
                      extended: Sequence[pb.Outcome], budget: int,
                      cancelled: Sequence[pb.Cancellation] = ()
                      ) -> Iterator[pb.SessionResponse]:
    """What one ``SessionResponse`` would carry, as messages of at most ``budget`` bytes each
    (jobs first, in order; cancellations last, so a job always arrives before its cancel)."""
    sizes = [field_size(item) for item in (*jobs, *settled, *extended, *cancelled)]
    second = len(jobs) + len(settled)
    third = second + len(extended)
    for start, end in cuts(sizes, budget):
        yield pb.SessionResponse(jobs=_part(jobs, 0, start, end),
                                 settled=_part(settled, len(jobs), start, end),
                                 extended=_part(extended, second, start, end),
                                 cancelled=_part(cancelled, third, start, end))


def session_requests(settlements: Sequence[pb.Settlement], extensions: Sequence[pb.Extension],
                     budget: int, max_items: int | None = None
                     ) -> Iterator[tuple[list[pb.Settlement], list[pb.Extension]]]:
    """A worker's settlements and extensions, cut into the contents of messages of at most
    ``budget`` bytes (room kept for credit and drain) and ``max_items`` items each."""
    sizes = [field_size(item) for item in (*settlements, *extensions)]
    for start, end in cuts(sizes, max(budget - REQUEST_OVERHEAD, 1), max_items):
        yield (_part(settlements, 0, start, end),
               _part(extensions, len(settlements), start, end))
