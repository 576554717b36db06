"""Where the producer client connects, read like the worker's settings: ``QUORRA_GRPC_ADDR``
(else the host of ``QUORRA_URL`` on the default gRPC port 50051), ``QUORRA_API_KEY``, or
arguments. The address rule, channel options and TLS are ``quorra.channels``, shared with the
worker SDK."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from urllib.parse import urlsplit

from quorra.channels import CLIENT_OPTIONS, DEFAULT_MAX_MESSAGE_BYTES, ChannelTls, grpc_target
from quorra.core.env import EnvReader
from quorra.core.errors import ConfigError

__all__ = ["CHANNEL_OPTIONS", "DEFAULT_TARGET", "ClientConfig"]

DEFAULT_TARGET = "localhost:50051"
# The worker's keepalive, plus quick reconnects: a restarted server is found again within ~0.5 s.
CHANNEL_OPTIONS = [
    *CLIENT_OPTIONS,
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.max_receive_message_length", DEFAULT_MAX_MESSAGE_BYTES),  # GetJob of any job
]


def _from_url(url: str) -> str:
    host = urlsplit(url if "//" in url else f"//{url}").hostname
    if not host:
        raise ConfigError("QUORRA_URL", f"invalid value {url!r}: no host")
    return f"[{host}]:50051" if ":" in host else f"{host}:50051"


@dataclasses.dataclass(frozen=True, slots=True)
class ClientConfig:
    """``target`` is a gRPC address (``host:port``); ``timeout`` bounds one attempt,
    ``retry_for`` the retries of a call that failed as unavailable (0: no retry)."""

    target: str = DEFAULT_TARGET
    api_key: str = ""
    timeout: float = 10.0
    retry_for: float = 5.0
    batch_size: int = 500
    concurrency: int = 4
    tls: ChannelTls = dataclasses.field(default_factory=ChannelTls)

    @classmethod
    def resolve(cls, target: str | None = None, api_key: str | None = None,
                env: Mapping[str, str] | None = None, **options: float) -> ClientConfig:
        """Arguments first, then the environment, then the defaults."""
        read = EnvReader(env)
        if target is None:
            if read.text("QUORRA_GRPC_ADDR"):
                target = grpc_target(read.env["QUORRA_GRPC_ADDR"])
            elif read.text("QUORRA_URL"):
                target = _from_url(read.text("QUORRA_URL"))
            else:
                target = DEFAULT_TARGET
        key = api_key if api_key is not None else read.env.get("QUORRA_API_KEY", "")
        config = cls(target=target, api_key=key, tls=ChannelTls.from_env(read.env),
                     **options)  # type: ignore[arg-type]
        config.check()
        return config

    def check(self) -> None:
        if self.batch_size < 1 or self.concurrency < 1:
            raise ConfigError("batch_size" if self.batch_size < 1 else "concurrency",
                              "must be at least 1")
        if self.timeout <= 0 or self.retry_for < 0:
            raise ConfigError("timeout" if self.timeout <= 0 else "retry_for",
                              "must be positive")
