"""Job ids: UUIDv7 (RFC 9562), so ids sort by creation time within and across processes."""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["new_job_id"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_job_id() -> uuid.UUID:
    """A time-ordered UUIDv7; a 12-bit counter keeps ids monotonic within one millisecond."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:
                ms += 1
                _counter = 0
        else:
            _counter = 0
        _last_ms = ms
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return uuid.UUID(int=value)
