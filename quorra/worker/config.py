"""Worker settings from GoQuorra's environment names; an invalid value names the variable."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from quorra.channels import DEFAULT_MAX_MESSAGE_BYTES, ChannelTls, grpc_target
from quorra.core.errors import ConfigError
from quorra.core.jobs import LEASE_TTL_MAX, LEASE_TTL_MIN
from quorra.settings import parse_duration

__all__ = ["MAX_PREFETCH", "WorkerConfig"]

MAX_PREFETCH = 5000  # the server's default QUORRA_MAX_SESSION_CREDIT leaves room for max_jobs


def _read(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _int(env: Mapping[str, str], name: str, default: str, low: int, high: int) -> int:
    raw = _read(env, name, default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"invalid value {raw!r}: expected an integer") from None
    if not low <= value <= high:
        raise ConfigError(name, f"invalid value {raw!r}: must be between {low} and {high}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: str, low: float, high: float) -> float:
    raw = _read(env, name, default)
    try:
        value = parse_duration(raw)
    except ValueError:
        raise ConfigError(name, f"invalid value {raw!r}: expected a duration such as 30s") from None
    if not low <= value <= high:
        raise ConfigError(name, f"invalid value {raw!r}: must be between {low:g}s and {high:g}s")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerConfig:
    worker_id: str = "worker-1"
    queues: tuple[str, ...] = ("default",)
    max_jobs: int = 5
    prefetch: int | None = None  # jobs held beyond max_jobs while jobs are short (window.py)
    lease_ttl: float = 30.0
    grpc_addr: str = "localhost:50051"
    api_key: str = ""
    shutdown_grace: float = 30.0
    handlers: str = ""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    tls: ChannelTls = dataclasses.field(default_factory=ChannelTls)

    @property
    def prefetch_jobs(self) -> int:
        """Jobs held beyond ``max_jobs`` while jobs are short: ``prefetch``, by default twice
        ``max_jobs`` (at most 1,000)."""
        return min(2 * self.max_jobs, 1000) if self.prefetch is None else self.prefetch

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerConfig:
        env = os.environ if env is None else env
        queues = tuple(q.strip() for q in _read(env, "QUORRA_WORKER_QUEUES", "default").split(","))
        if not all(queues):
            raise ConfigError("QUORRA_WORKER_QUEUES", "empty queue name in the list")
        return cls(
            worker_id=_read(env, "QUORRA_WORKER_ID", "worker-1"),
            queues=queues,
            max_jobs=_int(env, "QUORRA_WORKER_MAX_JOBS", "5", 1, 1000),
            prefetch=(_int(env, "QUORRA_WORKER_PREFETCH", "0", 0, MAX_PREFETCH)
                      if _read(env, "QUORRA_WORKER_PREFETCH", "") else None),
            lease_ttl=_seconds(env, "QUORRA_WORKER_LEASE_TTL", "30s", LEASE_TTL_MIN,
                               LEASE_TTL_MAX),
            grpc_addr=grpc_target(_read(env, "QUORRA_GRPC_ADDR", "localhost:50051")),
            api_key=env.get("QUORRA_API_KEY", ""),
            shutdown_grace=_seconds(env, "QUORRA_SHUTDOWN_GRACE", "30s", 0, 24 * 3600),
            handlers=_read(env, "QUORRA_WORKER_HANDLERS", ""),
            max_message_bytes=_int(env, "QUORRA_WORKER_MAX_MESSAGE_BYTES",
                                   str(DEFAULT_MAX_MESSAGE_BYTES), 64 * 1024, 2**31 - 1),
            tls=ChannelTls.from_env(env),
        )
