"""Per-second rates of this replica's job counters over the last minutes, for the dashboard.

``sample()`` runs once a second (a housekeeping chore) and keeps the counter totals in a ring;
``series()`` turns consecutive samples into rates. Each replica counts what it did itself."""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable

import msgspec

from quorra.metrics import Metrics, counter_total

__all__ = ["Rate", "Throughput"]


class Rate(msgspec.Struct, frozen=True):
    """Jobs per second over the interval ending at ``at`` (Unix seconds)."""

    at: float
    enqueued: float
    succeeded: float
    failed: float


_Sample = tuple[float, float, float, float]


class Throughput:
    def __init__(self, metrics: Metrics, *, keep_seconds: int = 300,
                 clock: Callable[[], float] = time.time) -> None:
        self._metrics = metrics
        self._clock = clock
        self._samples: deque[_Sample] = deque(maxlen=keep_seconds + 1)
        # the totals at start: what finishes before the first chore's sample counts too (a
        # burst in a replica's first second was missing from every rate)
        self._samples.append(self._read())

    def _read(self) -> _Sample:
        m = self._metrics
        return (self._clock(), counter_total(m.created), counter_total(m.processed),
                counter_total(m.failed))

    async def sample(self) -> None:
        self._samples.append(self._read())

    def series(self) -> list[Rate]:
        """Rates between consecutive samples, oldest first."""
        samples = list(self._samples)
        rates = []
        for (t0, c0, p0, f0), (t1, c1, p1, f1) in itertools.pairwise(samples):
            span = t1 - t0
            if span > 0:
                rates.append(Rate(at=t1, enqueued=(c1 - c0) / span,
                                  succeeded=(p1 - p0) / span, failed=(f1 - f0) / span))
        return rates
