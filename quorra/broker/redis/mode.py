"""Dispatch mode, per server process: where leases come from, with hysteresis.

    redis ──failing for `fail_after`──▶ postgres ──Redis healthy for `recover_after`──▶ rebuilding
      ▲                           (and at least `min_fallback` since the switch)            │
      └─────────────────────────────────────────────── full sweep from Postgres completed ◀─┘
    redis ──dataset changed (token, run_id, replication id)──▶ rebuilding

One failed call (a timeout, an exhausted pool) does not leave Redis mode: the failure must be
sustained — calls or health probes still failing ``fail_after`` seconds after the first one, with
no healthy probe between — before the replica falls back (and later pays a full rebuild). Until
then the failed call's caller leases that one time from Postgres.

In ``postgres`` mode leases use SKIP LOCKED and nothing is written to Redis. In ``rebuilding``
mode leases still use Postgres while new work is already dispatched to Redis, so nothing that
becomes pending during the sweep is missed. Both lease paths go through the same Postgres
fences, so any mix of modes across servers is safe.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable

from quorra.broker.redis.index import Identity

__all__ = ["Mode", "ModeState"]

log = logging.getLogger(__name__)


class Mode(enum.StrEnum):
    REDIS = "redis"
    POSTGRES = "postgres"
    REBUILDING = "rebuilding"


class ModeState:
    def __init__(self, *, recover_after: float = 1.0, min_fallback: float = 3.0,
                 fail_after: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.mode = Mode.POSTGRES
        self.redis_health = "not checked yet"
        self.identity: Identity | None = None
        self.rebuilds = 0
        self.fallbacks = 0
        self._recover_after = recover_after
        self._min_fallback = min_fallback
        self._fail_after = fail_after
        self._failing_since: float | None = None  # first failure since the last healthy probe
        self._clock = clock
        self._fell_back_at = -1e18
        self._healthy_since: float | None = None
        self._ever_failed = False
        self._refusal: str | None = None  # why this replica last refused the dataset
        self.on_change: Callable[[str], None] = lambda mode: None  # e.g. the mode gauge

    @property
    def leases_from_redis(self) -> bool:
        return self.mode is Mode.REDIS

    @property
    def dispatches(self) -> bool:
        return self.mode is not Mode.POSTGRES

    def failed(self, reason: str) -> None:
        """A Redis call failed: once failures are sustained, lease from Postgres until Redis is
        back and rebuilt."""
        self.redis_health = reason
        self._healthy_since = None
        self._ever_failed = True
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        if self.mode is Mode.REDIS and now - self._failing_since < self._fail_after:
            log.info("Redis call failed (%s); still in Redis mode", reason)
            return
        if self.mode is not Mode.POSTGRES:
            log.warning("Redis failed (%s): dispatching from PostgreSQL", reason)
            self._switch(Mode.POSTGRES)
            self.fallbacks += 1
            self._fell_back_at = now

    def refused(self, reason: str) -> None:
        """Redis answers but this replica must not use its dataset (it is used with the other
        lease mode): dispatch from PostgreSQL, logged once per reason, and check again after
        the usual recovery delay."""
        if reason != self._refusal:
            log.error("%s", reason)
        self._refusal = reason
        self.failed(reason)

    def probed(self, identity: Identity) -> bool:
        """A health probe succeeded; True when a rebuild should start now."""
        self.redis_health = "ok"
        now = self._clock()
        self._failing_since = None
        if self._healthy_since is None:
            self._healthy_since = now
        if self.mode is Mode.REDIS:
            if identity != self.identity:
                log.warning("Redis dataset changed (%s → %s): rebuilding from PostgreSQL",
                            self.identity, identity)
                self._switch(Mode.REBUILDING)
                return True
            return False
        if self.mode is Mode.REBUILDING or not self._ever_failed:
            return True
        return (now - self._healthy_since >= self._recover_after
                and now - self._fell_back_at >= self._min_fallback)

    def rebuilding(self) -> None:
        if self.mode is Mode.POSTGRES:
            self._switch(Mode.REBUILDING)

    def rebuilt(self, identity: Identity) -> None:
        """A full sweep into the dataset named by ``identity`` completed."""
        if self.mode is Mode.REBUILDING:
            self.identity = identity
            self._refusal = None
            self.rebuilds += 1
            self._switch(Mode.REDIS)
            log.info("Redis rebuilt from PostgreSQL: dispatching from Redis")

    def _switch(self, mode: Mode) -> None:
        self.mode = mode
        self.on_change(mode.value)
