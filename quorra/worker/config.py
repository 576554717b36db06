"""Worker settings from GoQuorra's environment names; an invalid value names the variable."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from quorra.channels import DEFAULT_MAX_MESSAGE_BYTES, ChannelTls, grpc_target
from quorra.core.env import EnvReader
from quorra.core.errors import ConfigError
from quorra.core.jobs import LEASE_TTL_MAX, LEASE_TTL_MIN

__all__ = ["MAX_PREFETCH", "WorkerConfig"]

MAX_PREFETCH = 5000  # the server's default QUORRA_MAX_SESSION_CREDIT leaves room for max_jobs


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
        read = EnvReader(env)
        queues = tuple(q.strip() for q in read.text("QUORRA_WORKER_QUEUES", "default").split(","))
        if not all(queues):
            raise ConfigError("QUORRA_WORKER_QUEUES", "empty queue name in the list")
        return cls(
            worker_id=read.text("QUORRA_WORKER_ID", "worker-1"),
            queues=queues,
            max_jobs=read.integer("QUORRA_WORKER_MAX_JOBS", "5", 1, 1000),
            prefetch=(read.integer("QUORRA_WORKER_PREFETCH", "0", 0, MAX_PREFETCH)
                      if read.text("QUORRA_WORKER_PREFETCH") else None),
            lease_ttl=read.seconds("QUORRA_WORKER_LEASE_TTL", "30s", LEASE_TTL_MIN,
                                   LEASE_TTL_MAX),
            grpc_addr=grpc_target(read.text("QUORRA_GRPC_ADDR", "localhost:50051")),
            api_key=read.env.get("QUORRA_API_KEY", ""),
            shutdown_grace=read.seconds("QUORRA_SHUTDOWN_GRACE", "30s", 0, 24 * 3600),
            handlers=read.text("QUORRA_WORKER_HANDLERS"),
            max_message_bytes=read.integer("QUORRA_WORKER_MAX_MESSAGE_BYTES",
                                           str(DEFAULT_MAX_MESSAGE_BYTES), 64 * 1024, 2**31 - 1),
            tls=ChannelTls.from_env(read.env),
        )
