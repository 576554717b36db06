"""Opaque listing cursors: the keyset position ``(created_at, id)`` of the last job shown."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

import msgspec

from quorra.core.errors import InvalidInput

__all__ = ["decode_cursor", "encode_cursor"]

Position = tuple[datetime, uuid.UUID]


def encode_cursor(position: Position | None) -> str | None:
    if position is None:
        return None
    raw = msgspec.json.encode([position[0].isoformat(), str(position[1])])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Position | None:
    """The position in ``cursor``; ``InvalidInput`` (400, field ``cursor``) when malformed."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, job_id = msgspec.json.decode(raw, type=tuple[str, str])
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("naive time")
        return when, uuid.UUID(job_id)
    except (binascii.Error, msgspec.DecodeError, ValueError, TypeError):
        raise InvalidInput("cursor", "invalid cursor; pass next_cursor back as given") from None
