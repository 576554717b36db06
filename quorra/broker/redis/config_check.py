"""Checks the Redis settings Quorra's state in Redis depends on.

- ``maxmemory-policy`` must be ``noeviction``: any other policy lets Redis drop keys silently
  under memory pressure — proposals, job bodies and, with stream leases, the leases themselves
  (a lease evicted before PostgreSQL recorded it makes its job run twice). With ``noeviction``
  Redis never deletes a key by itself: past ``maxmemory`` it refuses writes with an error,
  which Quorra handles as any failed Redis call.
- AOF (``appendonly yes``) should be on with stream leases: without it a Redis restart comes
  back empty (or from an old snapshot) and loses the leases PostgreSQL has not recorded yet.
  With ``grant`` leases Redis holds no lease (PostgreSQL grants each one), a restart costs only
  a rebuild, and AOF is reported but not required.

The policy is read with ``CONFIG GET``; a managed Redis that renames or refuses CONFIG is asked
``INFO memory`` instead, and when neither answers the policy is ``unknown`` (also a warning).
A bad value is a warning — a WARNING log, ``quorra_redis_config_ok{check} 0`` and the
``redis_config`` section of ``/readyz`` — never unreadiness: every replica shares the Redis, so
failing readiness would take the whole service down for a risk, not an outage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from quorra.core.errors import DispatchUnavailable

__all__ = ["NOEVICTION", "UNKNOWN", "RedisConfig", "RedisConfigCheck"]

log = logging.getLogger(__name__)

NOEVICTION = "noeviction"
UNKNOWN = "unknown"
_POLICY_FIX = ("set `maxmemory-policy noeviction` in redis.conf (or CONFIG SET maxmemory-policy "
               "noeviction; on a managed Redis, in its parameter group)")
_AOF_FIX = "set `appendonly yes` and `appendfsync everysec` in redis.conf"


@dataclasses.dataclass(frozen=True, slots=True)
class RedisConfig:
    """What Redis said: ``maxmemory_policy`` is ``unknown`` when neither CONFIG GET nor INFO
    answered (``policy_from`` None), ``aof_enabled`` None when INFO did not answer.
    ``aof_required``: leases live in Redis (stream leases), so AOF off is a warning."""

    maxmemory_policy: str
    policy_from: str | None
    aof_enabled: bool | None
    aof_required: bool = True

    @property
    def policy_ok(self) -> bool:
        return self.maxmemory_policy == NOEVICTION

    @property
    def aof_ok(self) -> bool:
        return self.aof_enabled is True or not self.aof_required

    def checks(self) -> dict[str, bool]:
        """Each check's verdict, as ``quorra_redis_config_ok{check}`` exports it."""
        return {"maxmemory_policy": self.policy_ok, "aof": self.aof_ok}

    def warnings(self) -> list[str]:
        found = []
        if not self.policy_ok:
            found.append(f"Redis maxmemory-policy is {self.maxmemory_policy}, not noeviction: "
                         "Redis may evict Quorra's keys (queued proposals, job bodies, stream "
                         f"leases; an evicted lease's job runs again); {_POLICY_FIX}")
        if not self.aof_ok:
            state = "off" if self.aof_enabled is False else UNKNOWN
            found.append(f"Redis AOF is {state}: a Redis restart loses the leases PostgreSQL "
                         f"has not recorded yet (their jobs may run again); {_AOF_FIX}")
        return found

    def report(self) -> dict[str, Any]:
        return {"maxmemory_policy": self.maxmemory_policy, "policy_from": self.policy_from,
                "aof_enabled": self.aof_enabled, "aof_required": self.aof_required,
                "warnings": self.warnings()}


class RedisConfigCheck:
    """Reads the settings through ``read`` (``RedisIndex.config``): at start, from housekeeping,
    and from ``/readyz`` when the last answer is older than ``fresh_for`` seconds. Logs each
    warning at WARNING the first time and whenever the answer changes; an unreachable Redis
    keeps the last answer."""

    def __init__(self, read: Callable[[], Awaitable[RedisConfig]], *, aof_required: bool,
                 fresh_for: float = 5.0, timeout: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._aof_required = aof_required
        self._fresh_for = fresh_for
        self._timeout = timeout
        self._clock = clock
        self._checked_at = -math.inf
        self.config: RedisConfig | None = None
        self.error = "not checked yet"
        self.on_result: Callable[[RedisConfig], None] = lambda config: None  # e.g. the gauge

    async def check(self) -> RedisConfig | None:
        """Ask Redis now; the last answer when it does not answer."""
        self._checked_at = self._clock()
        try:
            async with asyncio.timeout(self._timeout):
                config = dataclasses.replace(await self._read(), aof_required=self._aof_required)
        except (DispatchUnavailable, TimeoutError) as exc:
            self.error = getattr(exc, "message", "Redis did not answer in time")
            return self.config
        self._log_change(config)
        self.config = config
        self.on_result(config)
        return config

    async def report(self) -> dict[str, Any]:
        """The ``redis_config`` section of ``/readyz``, checked at most ``fresh_for`` ago."""
        if self._clock() - self._checked_at > self._fresh_for:
            await self.check()
        if self.config is None:
            return {"maxmemory_policy": UNKNOWN, "policy_from": None, "aof_enabled": None,
                    "aof_required": self._aof_required,
                    "warnings": [f"Redis configuration not read: {self.error}"]}
        return self.config.report()

    def _log_change(self, config: RedisConfig) -> None:
        if self.config is not None and config.warnings() == self.config.warnings():
            return
        for warning in config.warnings():
            log.warning("%s", warning)
        if self.config is not None and not config.warnings():
            log.info("Redis configuration is fine now: maxmemory-policy %s, AOF %s",
                     config.maxmemory_policy, "on" if config.aof_enabled else "not required")
