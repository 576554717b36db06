"""Failed-authentication throttling, in memory and per replica.

Each failure is counted against the client's address and, when the presented key has the
``qk_<id>_`` shape, against that key id. Once a bucket holds ``limit`` failures within
``window`` seconds, further failures of it are answered "too many" (HTTP 429 / gRPC
RESOURCE_EXHAUSTED) with the seconds until its oldest failure leaves the window. Successful
authentications are never counted nor refused. The table is bounded: past ``max_buckets`` the
oldest buckets are dropped."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["FailureThrottle"]


class FailureThrottle:
    def __init__(self, *, limit: int = 20, window: float = 60.0, max_buckets: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.max_buckets = max_buckets
        self._clock = clock
        self._buckets: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, name: str, now: float) -> deque[float]:
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = deque(maxlen=self.limit)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        while bucket and bucket[0] <= now - self.window:
            bucket.popleft()
        return bucket

    def failed(self, address: str, key_id: str | None = None) -> int | None:
        """Count a failure; the seconds to wait when the client or key id is over its limit
        (this failure is then not counted), else ``None``."""
        now = self._clock()
        names = [f"addr:{address}"] + ([f"key:{key_id}"] if key_id else [])
        buckets = [self._recent(name, now) for name in names]
        full = [b for b in buckets if len(b) >= self.limit]
        if full:
            oldest = min(b[0] for b in full)
            return max(1, math.ceil(oldest + self.window - now))
        for bucket in buckets:
            bucket.append(now)
        return None

    def reset(self) -> None:
        self._buckets.clear()
