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
_RANDOM_CHUNK = 8 * 512
_random = b""  # os.urandom read in chunks: one call per id was ~5% of a single-job enqueue
_offset = 0


def _forget_random() -> None:
    """A forked child must not reuse its parent's unread random bytes (equal ids)."""
    global _random, _offset
    _random, _offset = b"", 0


os.register_at_fork(after_in_child=_forget_random)


def new_job_id() -> uuid.UUID:
    """A time-ordered UUIDv7; a 12-bit counter keeps ids monotonic within one millisecond."""
    global _last_ms, _counter, _random, _offset
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
        if _offset >= len(_random):
            _random, _offset = os.urandom(_RANDOM_CHUNK), 0
        chunk = _random[_offset:_offset + 8]
        _offset += 8
    rand = int.from_bytes(chunk, "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return uuid.UUID(int=value)
