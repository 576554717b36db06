"""Queue limits: at most ``max_concurrency`` jobs of a queue leased at once, and at most
``rate_limit`` leases per ``rate_period`` seconds (a fixed window), across every worker and
replica. Enforced at lease time by every dispatch mode (``docs/architecture.md``, "Queue
limits")."""

from __future__ import annotations

import msgspec

from quorra.core.errors import InvalidInput

__all__ = ["MAX_LIMIT", "MAX_RATE_PERIOD", "QueueLimits", "check_limits", "describe"]

MAX_LIMIT = 1_000_000
MAX_RATE_PERIOD = 86_400.0  # one day


class QueueLimits(msgspec.Struct, frozen=True, omit_defaults=True):
    """A queue's limits; ``None``: no such limit. ``rate_limit`` and ``rate_period`` go
    together."""

    max_concurrency: int | None = None
    rate_limit: int | None = None
    rate_period: float | None = None

    @property
    def any(self) -> bool:
        return self.max_concurrency is not None or self.rate_limit is not None


def check_limits(limits: QueueLimits) -> QueueLimits:
    """``limits`` if they make sense, else ``InvalidInput`` naming the field."""
    for field in ("max_concurrency", "rate_limit"):
        value = getattr(limits, field)
        if value is not None and (isinstance(value, bool) or not 1 <= value <= MAX_LIMIT):
            raise InvalidInput(field, f"must be a whole number from 1 to {MAX_LIMIT:,}")
    period = limits.rate_period
    if period is not None and not 0 < period <= MAX_RATE_PERIOD:
        raise InvalidInput("rate_period", f"must be over 0 and at most {MAX_RATE_PERIOD:g} "
                                          "seconds")
    if (limits.rate_limit is None) != (period is None):
        raise InvalidInput("rate_period" if period is None else "rate_limit",
                           "rate_limit and rate_period go together")
    return limits


def describe(limits: QueueLimits) -> str:
    """``"3 at once, 50 per 1s"`` (empty when there is no limit)."""
    parts = []
    if limits.max_concurrency is not None:
        parts.append(f"{limits.max_concurrency} at once")
    if limits.rate_limit is not None:
        parts.append(f"{limits.rate_limit} per {limits.rate_period or 1:g}s")
    return ", ".join(parts)
