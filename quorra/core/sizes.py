"""Message sizes: what the largest job can weigh, and the gRPC message limits that follow.

The rule: a job that was accepted can always be delivered. A job travels with its payload (at
most ``max_payload_bytes``), its result (bounded by the same limit), an error of at most
``MAX_ERROR_CHARS`` characters and a few short fields, so ``largest_job_bytes`` bounds any job
message, and the server's gRPC limits never go below it.
"""

from __future__ import annotations

from quorra.core.errors import TooLarge

__all__ = [
    "GRPC_DEFAULT_MESSAGE_BYTES",
    "MESSAGE_SLACK_BYTES",
    "check_size",
    "grpc_message_bytes",
    "largest_job_bytes",
]

GRPC_DEFAULT_MESSAGE_BYTES = 4 * 1024 * 1024  # gRPC's default receive limit, in every language
MESSAGE_SLACK_BYTES = 64 * 1024  # ids, type, queue, timestamps, a 4,096-character error, framing


def largest_job_bytes(max_payload_bytes: int) -> int:
    """An upper bound on one job's message: payload + result + error and metadata."""
    return 2 * max_payload_bytes + MESSAGE_SLACK_BYTES


def grpc_message_bytes(max_body_bytes: int, max_payload_bytes: int) -> int:
    """The server's gRPC send and receive limit: room for the largest batch a producer may send
    (a request body), for the largest job, and never below gRPC's default."""
    room = max(max_body_bytes + MESSAGE_SLACK_BYTES, largest_job_bytes(max_payload_bytes))
    return max(room, GRPC_DEFAULT_MESSAGE_BYTES + MESSAGE_SLACK_BYTES)


def check_size(raw: bytes, limit: int, field: str) -> None:
    """``TooLarge`` naming ``field`` when ``raw`` is over ``limit`` bytes."""
    if len(raw) > limit:
        raise TooLarge(field, f"{len(raw)} bytes is over the limit of {limit}")
