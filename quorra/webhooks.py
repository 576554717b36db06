"""Signing and verifying Quorra's webhook deliveries (for receivers: stdlib only).

Each delivery carries ``Quorra-Signature: t=<unix seconds>,v1=<hex>``, where ``<hex>`` is the
HMAC-SHA256, keyed with the subscription's secret, of ``"<t>." + body`` (the raw request body,
byte for byte). A receiver checks it with ``verify`` before parsing the body::

    from quorra.webhooks import InvalidSignature, verify

    try:
        verify(request.body, request.headers["Quorra-Signature"], secret)
    except InvalidSignature:
        return 400

``verify`` compares in constant time and refuses a timestamp more than ``tolerance`` seconds
(default 300) from now, so a captured delivery cannot be replayed later. De-duplicate on the
``Quorra-Delivery`` header: it is the same for every attempt of one delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["DEFAULT_TOLERANCE", "InvalidSignature", "sign", "signature_header", "verify"]

DEFAULT_TOLERANCE = 300.0  # seconds a signature's timestamp may be from the receiver's clock


class InvalidSignature(ValueError):
    """The signature header is missing, malformed, stale, or does not match the body."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` keyed with ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Quorra-Signature`` value for ``body`` (now, unless ``timestamp`` is given)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={sign(secret, stamp, body)}"


def _parse(header: str) -> tuple[int, list[str]]:
    stamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            stamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if stamp is None or not signatures:
        raise InvalidSignature("malformed Quorra-Signature header")
    return stamp, signatures


def verify(body: bytes, header: str | None, secret: str, *,
           tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> int:
    """Check a delivery's ``Quorra-Signature``; returns its timestamp. Raises
    ``InvalidSignature`` when the header is missing or malformed, the timestamp is further than
    ``tolerance`` seconds from ``now`` (default: the clock), or no ``v1`` signature matches."""
    if not header:
        raise InvalidSignature("no Quorra-Signature header")
    stamp, signatures = _parse(header)
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        raise InvalidSignature("timestamp outside the tolerance (a replay?)")
    expected = sign(secret, stamp, body)
    if not any(hmac.compare_digest(expected, given) for given in signatures):
        raise InvalidSignature("signature does not match")
    return stamp
