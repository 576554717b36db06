"""Channels to the worker protocol, shared by its two clients (the worker SDK and
``quorra.Client``; neither imports the other's package for these): the address rule, keepalive
options, the receive limit, and TLS — which server certificates to trust and which client
certificate to present.

Read from ``QUORRA_TLS_CA`` (a PEM bundle to trust), ``QUORRA_TLS_CLIENT_CERT`` and
``QUORRA_TLS_CLIENT_KEY`` (for a server that verifies clients, mTLS), or ``QUORRA_GRPC_TLS=true``
(TLS with the system's trusted roots). None of them set: plaintext, as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from quorra.core.env import EnvReader
from quorra.core.errors import ConfigError
from quorra.settings import parse_address

__all__ = ["CLIENT_OPTIONS", "DEFAULT_MAX_MESSAGE_BYTES", "ChannelTls", "grpc_target",
           "open_channel"]

CLIENT_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),  # >= the server's 10 s minimum ping interval
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
# The largest message a client accepts (its channel's receive limit; a worker announces it to
# the server, which cuts its responses to it): room for a job of up to a 64 MiB payload limit
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024 + 64 * 1024

_TRUE = ("1", "true", "yes", "on")


def _pem(variable: str, path: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(variable, f"cannot read {path!r}: {exc.strerror}") from None


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelTls:
    """``enabled`` with no ``ca``: the system's roots. Certificates as PEM bytes."""

    enabled: bool = False
    ca: bytes | None = None
    client_cert: bytes | None = None
    client_key: bytes | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChannelTls:
        read = EnvReader(env)
        ca = _pem("QUORRA_TLS_CA", read.text("QUORRA_TLS_CA"))
        cert = _pem("QUORRA_TLS_CLIENT_CERT", read.text("QUORRA_TLS_CLIENT_CERT"))
        key = _pem("QUORRA_TLS_CLIENT_KEY", read.text("QUORRA_TLS_CLIENT_KEY"))
        if (cert is None) != (key is None):
            raise ConfigError("QUORRA_TLS_CLIENT_CERT", "and QUORRA_TLS_CLIENT_KEY go together")
        flag = read.text("QUORRA_GRPC_TLS").lower() in _TRUE
        return cls(enabled=flag or ca is not None or cert is not None, ca=ca,
                   client_cert=cert, client_key=key)

    def credentials(self) -> grpc.ChannelCredentials | None:
        if not self.enabled:
            return None
        return grpc.ssl_channel_credentials(root_certificates=self.ca,
                                            private_key=self.client_key,
                                            certificate_chain=self.client_cert)


def open_channel(target: str, options: Sequence[tuple[str, Any]],
                 tls: ChannelTls) -> grpc.aio.Channel:
    """A channel to ``target``: TLS when configured, plaintext otherwise."""
    credentials = tls.credentials()
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=list(options))
    return grpc.aio.secure_channel(target, credentials, options=list(options))


def grpc_target(raw: str) -> str:
    """A gRPC target (``host:port``) from a ``QUORRA_GRPC_ADDR`` value (``:50051`` → localhost)."""
    try:
        address = parse_address(raw)
    except ValueError as exc:
        raise ConfigError("QUORRA_GRPC_ADDR", f"invalid value {raw!r}: {exc}") from None
    host = "localhost" if raw.strip().startswith(":") else address.host
    return f"[{host}]:{address.port}" if ":" in host else f"{host}:{address.port}"

