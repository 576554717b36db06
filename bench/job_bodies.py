"""The job bodies of the peer comparison (``bench/peers_bench.py``), shared by Quorra's handlers
and by every other library's tasks, so every system runs exactly the same code per job.

Bodies (``BODIES``):

- ``sync_incr``  — ``def``: one ``INCR`` with redis-py (one client per process), the shape of a
  handler that does one blocking network call;
- ``async_incr`` — ``async def``: the same ``INCR`` with ``redis.asyncio`` (one client per process
  and event loop);
- ``async_sleep`` — ``async def``: ``await asyncio.sleep(0.01)``, I/O-bound at high concurrency;
- ``sync_cpu``   — ``def``: about 1 ms of pure-Python CPU (holding the GIL), the shape of a
  handler that computes (render, parse, score);
- ``empty_sync`` / ``empty_async`` — nothing at all: the floor of each system's own overhead.

Counting happens outside the library under test, in Redis (``COUNTER_URL``): the ``*_incr`` bodies'
own ``INCR`` is the count, and every ``MARK_EVERY`` jobs (and at 1 and N) the body appends
``count:timestamp`` to a list. The bodies without Redis I/O note each run in process memory; a
daemon thread per process adds those notes to the same counter every 20 ms (one pipeline), so
they cost no round trip per job. Each process also records the time of its first job. The rate is
``(N - 1) / (last job's timestamp - first job's timestamp)``: the bodies' own clocks, not the
library's.

Only depends on redis-py; imported by the driver and inside every worker process.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

COUNTER_URL = os.environ.get("QUORRA_PEERS_COUNTER_URL", "redis://127.0.0.1:6379/6")
N = int(os.environ.get("QUORRA_PEERS_N", "10000"))
MARK_EVERY = max(1, N // 20)

K_COUNT = "qpeers:count"  # jobs run
K_MARKS = "qpeers:marks"  # "count:unix time" samples
K_FIRST = "qpeers:first"  # hash pid -> unix time of that process's first job
K_LAT = "qpeers:lat"  # list of handler start - enqueue time, seconds
KEYS = (K_COUNT, K_MARKS, K_FIRST, K_LAT)

BODIES = ("sync_incr", "async_incr", "async_sleep", "sync_cpu", "empty_sync", "empty_async")
SLEEP = 0.01
CPU_TERMS = 30_000  # sum of squares: about 1 ms of one core here

_lock = threading.Lock()
_sync: dict[str, Any] = {"pid": None, "client": None}
_aio: dict[str, Any] = {"key": None, "client": None}
_first: dict[str, int | None] = {"pid": None}


def _redis_client() -> Any:
    """This process's redis-py client (made again after a fork)."""
    pid = os.getpid()
    if _sync["pid"] != pid:
        with _lock:
            if _sync["pid"] != pid:
                import redis

                _sync["client"] = redis.Redis.from_url(COUNTER_URL)
                _sync["pid"] = pid
    return _sync["client"]


def _aio_client() -> Any:
    """This process's and event loop's ``redis.asyncio`` client."""
    key = (os.getpid(), id(asyncio.get_running_loop()))
    if _aio["key"] != key:
        import redis.asyncio as aredis

        _aio["client"] = aredis.Redis.from_url(COUNTER_URL)
        _aio["key"] = key
    return _aio["client"]


def _mark_due(count: int) -> bool:
    return count == 1 or count % MARK_EVERY == 0 or count == N


# --- one Redis round trip per job ----------------------------------------------------------

def sync_incr() -> None:
    client = _redis_client()
    count = client.incr(K_COUNT)
    now = time.time()
    pid = os.getpid()
    if _first["pid"] != pid:
        _first["pid"] = pid
        client.hsetnx(K_FIRST, str(pid), repr(now))
    if _mark_due(count):
        client.rpush(K_MARKS, f"{count}:{now!r}")


async def async_incr() -> None:
    client = _aio_client()
    count = await client.incr(K_COUNT)
    now = time.time()
    pid = os.getpid()
    if _first["pid"] != pid:
        _first["pid"] = pid
        await client.hsetnx(K_FIRST, str(pid), repr(now))
    if _mark_due(count):
        await client.rpush(K_MARKS, f"{count}:{now!r}")


# --- no Redis I/O per job: in-process notes, flushed by a thread --------------------------

class _Notes:
    """Jobs run in this process since the last flush, and the time of the latest."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.runs = 0
        self.first = 0.0
        self.last = 0.0
        thread = threading.Thread(target=self._flush_loop, name="qpeers-notes", daemon=True)
        thread.start()

    def note(self) -> None:
        now = time.time()
        with self.lock:
            if not self.first:
                self.first = now
            self.last = now
            self.runs += 1

    def _flush_loop(self) -> None:
        import redis

        client = redis.Redis.from_url(COUNTER_URL)
        first_sent = False
        flushed = 0
        while True:  # a daemon thread: ends with its process
            # the first job shows promptly (the driver starts its CPU reading then)
            time.sleep(0.02 if first_sent else 0.002)
            with self.lock:
                first, last, runs = self.first, self.last, self.runs
            if not first_sent and first:
                client.hsetnx(K_FIRST, str(self.pid), repr(first))
                first_sent = True
            if runs == flushed:
                continue
            total = client.incrby(K_COUNT, runs - flushed)
            flushed = runs
            client.rpush(K_MARKS, f"{total}:{last!r}")


_notes: dict[int, _Notes] = {}


def _note() -> None:
    pid = os.getpid()
    notes = _notes.get(pid)
    if notes is None:
        with _lock:
            notes = _notes.get(pid)
            if notes is None:
                notes = _notes[pid] = _Notes()
    notes.note()


def empty_sync() -> None:
    _note()


async def empty_async() -> None:
    _note()


async def async_sleep() -> None:
    await asyncio.sleep(SLEEP)
    _note()


def sync_cpu() -> None:
    sum(i * i for i in range(CPU_TERMS))
    _note()


# --- enqueue -> start latency --------------------------------------------------------------

def latency_sync(sent: float) -> None:
    started = time.time()
    _redis_client().rpush(K_LAT, repr(started - float(sent)))


async def latency_async(sent: float) -> None:
    started = time.time()
    await _aio_client().rpush(K_LAT, repr(started - float(sent)))


def run_sync(body: str) -> None:
    """Run a ``def`` body by name (the sync libraries' tasks)."""
    SYNC[body]()


async def run_async(body: str) -> None:
    """Run an ``async def`` body by name (the asyncio libraries' tasks)."""
    await ASYNC[body]()


SYNC = {"sync_incr": sync_incr, "sync_cpu": sync_cpu, "empty_sync": empty_sync}
ASYNC = {"async_incr": async_incr, "async_sleep": async_sleep, "empty_async": empty_async}
