"""Job search terms from a query string: a payload to contain (JSON object) and an id prefix.

Both are checked before anything is queried: a bad term is ``InvalidInput`` (400). The payload
becomes canonical JSON text for ``payload @> $1::jsonb`` (the GIN index of migration 0015); the
id prefix becomes the inclusive range of UUIDs that start with it, so the primary key's btree
answers it (no text scan of the ids)."""

from __future__ import annotations

import string
import uuid

import msgspec

from quorra.core.errors import InvalidInput
from quorra.core.spec import decode_value

__all__ = ["MAX_PAYLOAD_TERM", "id_range", "payload_term"]

MAX_PAYLOAD_TERM = 4096  # characters of the payload search term
_HEX = frozenset(string.hexdigits)
_encode = msgspec.json.Encoder(order="sorted").encode


def payload_term(text: str | None) -> str | None:
    """Canonical JSON of the object the payloads must contain; ``None`` when not given."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_PAYLOAD_TERM:
        raise InvalidInput("payload", f"at most {MAX_PAYLOAD_TERM} characters")
    try:
        raw = text.encode("utf-8")
    except UnicodeError:
        raise InvalidInput("payload", "not valid JSON") from None
    value = decode_value(raw, "payload")  # as a job's payload: no NUL, NaN, or deep nesting
    if not isinstance(value, dict):
        raise InvalidInput("payload", "a JSON object, e.g. {\"user\": 42}")
    return _encode(value).decode()


def id_range(prefix: str | None) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The first and last UUID starting with ``prefix`` (hex digits, hyphens ignored)."""
    if prefix is None or not prefix.strip():
        return None
    digits = prefix.strip().replace("-", "").lower()
    if not digits or len(digits) > 32 or not set(digits) <= _HEX:
        raise InvalidInput("id_prefix", "1 to 32 hex digits of a job id (hyphens allowed)")
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
