"""Settings from the environment, with GoQuorra's names and defaults, validated at start-up.

Library code never reads ``os.environ``: ``Settings.from_env()`` runs once in the composition
root and the values flow down as constructor arguments. An invalid value raises ``ConfigError``
naming the variable.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping

from quorra.core.env import EnvReader, parse_duration
from quorra.core.errors import ConfigError
from quorra.core.jobs import LEASE_TTL_MAX, LEASE_TTL_MIN, MAX_TIMEOUT_SECONDS, JobStatus
from quorra.core.spec import Limits

__all__ = ["DEFAULT_REDIS_LEASES", "JWT_ALGORITHMS", "MIN_API_KEY_LENGTH", "SAMPLE_API_KEYS",
           "Address", "JwtSettings", "Settings", "TlsSettings", "WebhookSettings",
           "parse_address", "parse_duration"]

MIN_API_KEY_LENGTH = 16
# Placeholders shipped in deployments/ (and the examples): never accepted as a real key.
SAMPLE_API_KEYS = frozenset({"REPLACE-with-a-long-random-secret"})


LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
              "warning": logging.WARNING, "error": logging.ERROR}


@dataclasses.dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_address(value: str) -> Address:
    """``:8080``, ``0.0.0.0:8080``, ``localhost:50051`` or ``[::1]:8080``."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError("expected HOST:PORT or :PORT with a port in 0-65535")
    return Address(host.strip("[]") or "0.0.0.0", int(port_text))


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _positive_seconds(value: str) -> float:
    seconds = parse_duration(value)
    if not seconds > 0:
        raise ValueError("must be a positive duration such as 30s")
    return seconds


def _long_duration(value: str) -> float:
    """A duration that may be given in days too: ``7d``, ``12h``, ``90m``, ``30s``, seconds."""
    text = value.strip().lower()
    if text.endswith("d") and text[:-1].replace(".", "", 1).isdigit():
        return float(text[:-1]) * 86400.0
    return parse_duration(text)


def _retention(value: str) -> float:
    """How long finished jobs are kept: ``7d``, ``12h``, ``90m``, ``3600s`` or seconds; ``0``
    keeps them forever."""
    seconds = _long_duration(value)
    if not 0 <= seconds <= 100 * 365 * 86400.0:
        raise ValueError("must be a duration such as 7d, 12h or 30m (0 keeps forever)")
    return seconds


def _job_timeout(value: str) -> float:
    """The time limit of jobs enqueued without one: ``0`` (none) or more than 0 up to 7 days."""
    seconds = _long_duration(value)
    if not 0 <= seconds <= MAX_TIMEOUT_SECONDS:
        raise ValueError("must be a duration such as 30s, 15m or 1d (0: no limit), at most 7d")
    return seconds


def _lease_ttl(value: str) -> float:
    seconds = parse_duration(value)
    if not LEASE_TTL_MIN <= seconds <= LEASE_TTL_MAX:
        raise ValueError(f"must be between {LEASE_TTL_MIN:g}s and {LEASE_TTL_MAX:g}s")
    return seconds


def _flag(value: str) -> bool:
    text = value.strip().lower()
    if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise ValueError("expected true or false")
    return text in ("1", "true", "yes", "on")


def _log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(sorted(LOG_LEVELS))}")
    return value.lower()


def _postgres_url(value: str) -> str:
    if value and not value.startswith(("postgres://", "postgresql://", "host=", "dbname=")):
        raise ValueError("expected a postgresql:// URL")
    return value


def _redis_url(value: str) -> str:
    if value and not value.startswith(("redis://", "rediss://", "unix://", "redis+cluster://",
                                       "rediss+cluster://")):
        raise ValueError("expected a redis:// URL, redis+cluster:// for a Redis Cluster (or "
                         "leave empty for Postgres-only mode)")
    return value


REDIS_LEASE_MODES = ("grant", "stream")
DEFAULT_REDIS_LEASES = "grant"  # when neither the setting nor the Redis dataset names a mode


def _redis_leases(value: str) -> str:
    text = value.strip().lower()
    if text and text not in REDIS_LEASE_MODES:
        raise ValueError(f"must be one of {', '.join(REDIS_LEASE_MODES)}")
    return text


def _readable(value: str) -> str:
    if value and not os.access(value, os.R_OK):
        raise ValueError(f"{value!r} is not a readable file")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class TlsSettings:
    """File paths (PEM). gRPC: a certificate and key make it TLS; a client CA makes it mTLS (a
    client must present a certificate it signed). HTTP: served over TLS with a certificate and
    key, or behind a proxy whose ``X-Forwarded-Proto``/``-For`` are trusted from
    ``forwarded_allow_ips``."""

    grpc_cert: str = ""
    grpc_key: str = ""
    grpc_client_ca: str = ""
    http_cert: str = ""
    http_key: str = ""
    forwarded_allow_ips: str = ""

    def check(self) -> None:
        pairs = (("QUORRA_GRPC_TLS_CERT", self.grpc_cert, "QUORRA_GRPC_TLS_KEY", self.grpc_key),
                 ("QUORRA_HTTP_TLS_CERT", self.http_cert, "QUORRA_HTTP_TLS_KEY", self.http_key))
        for cert_name, cert, key_name, key in pairs:
            if bool(cert) != bool(key):
                raise ConfigError(cert_name if not cert else key_name,
                                  f"is required with {key_name if not cert else cert_name}")
        if self.grpc_client_ca and not self.grpc_cert:
            raise ConfigError("QUORRA_GRPC_TLS_CLIENT_CA", "needs QUORRA_GRPC_TLS_CERT and _KEY")


def _tls(read: EnvReader) -> TlsSettings:
    files = {name: read.get(f"QUORRA_{name.upper()}", "", _readable) for name in (
        "grpc_tls_cert", "grpc_tls_key", "grpc_tls_client_ca", "http_tls_cert", "http_tls_key")}
    return TlsSettings(
        grpc_cert=files["grpc_tls_cert"], grpc_key=files["grpc_tls_key"],
        grpc_client_ca=files["grpc_tls_client_ca"], http_cert=files["http_tls_cert"],
        http_key=files["http_tls_key"],
        forwarded_allow_ips=read.get("QUORRA_FORWARDED_ALLOW_IPS", "", str))


# Asymmetric algorithms only: never "none", never HS* (a public key is no shared secret).
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                  "ES512", "EdDSA")
MAX_JWT_LEEWAY = 300.0


@dataclasses.dataclass(frozen=True, slots=True)
class JwtSettings:
    """Bearer JWTs, verified against a static public key (PEM) or a JWKS URL; off when neither
    is set. Issuer and audience are required with either; ``exp`` is always required."""

    public_key: str = ""
    jwks_url: str = ""
    issuer: str = ""
    audience: str = ""
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway: float = 30.0
    claim_prefix: str = ""
    jwks_cache: float = 300.0

    @property
    def enabled(self) -> bool:
        return bool(self.public_key or self.jwks_url)

    def check(self) -> None:
        if not self.enabled:
            return
        if self.public_key and self.jwks_url:
            raise ConfigError("QUORRA_JWT_JWKS_URL", "set either it or QUORRA_JWT_PUBLIC_KEY")
        for name, value in (("QUORRA_JWT_ISSUER", self.issuer),
                            ("QUORRA_JWT_AUDIENCE", self.audience)):
            if not value:
                raise ConfigError(name, "is required when JWTs are accepted")


def _jwt_algorithms(value: str) -> tuple[str, ...]:
    found = tuple(dict.fromkeys(a.strip() for a in value.split(",") if a.strip()))
    bad = [a for a in found if a not in JWT_ALGORITHMS]
    if bad or not found:
        raise ValueError(f"allowed: {', '.join(JWT_ALGORITHMS)} (never none or HS*)")
    return found


def _jwt_leeway(value: str) -> float:
    seconds = parse_duration(value)
    if not 0 <= seconds <= MAX_JWT_LEEWAY:
        raise ValueError(f"must be between 0s and {MAX_JWT_LEEWAY:g}s")
    return seconds


def _jwks_url(value: str) -> str:
    if value and not value.startswith(("https://", "http://")):
        raise ValueError("expected an https:// URL (http:// on a trusted network only)")
    return value


def _public_key(read: EnvReader) -> str:
    text = read.get("QUORRA_JWT_PUBLIC_KEY", "", str)
    path = read.get("QUORRA_JWT_PUBLIC_KEY_FILE", "", _readable)
    if text and path:
        raise ConfigError("QUORRA_JWT_PUBLIC_KEY_FILE", "set either it or QUORRA_JWT_PUBLIC_KEY")
    if path:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    if text and "-----BEGIN PUBLIC KEY-----" not in text:
        raise ConfigError("QUORRA_JWT_PUBLIC_KEY", "expected a PEM public key "
                                                   "(-----BEGIN PUBLIC KEY-----)")
    return text


def _jwt(read: EnvReader) -> JwtSettings:
    return JwtSettings(
        public_key=_public_key(read),
        jwks_url=read.get("QUORRA_JWT_JWKS_URL", "", _jwks_url),
        issuer=read.get("QUORRA_JWT_ISSUER", "", str),
        audience=read.get("QUORRA_JWT_AUDIENCE", "", str),
        algorithms=read.get("QUORRA_JWT_ALGORITHMS", "RS256,ES256", _jwt_algorithms),
        leeway=read.get("QUORRA_JWT_LEEWAY", "30s", _jwt_leeway),
        claim_prefix=read.get("QUORRA_JWT_CLAIM_PREFIX", "", str),
        jwks_cache=read.get("QUORRA_JWT_JWKS_CACHE", "5m", _positive_seconds))


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Webhook deliveries: plain http targets (development only), the request timeout, the
    deliveries one replica sends at once, a CA bundle receivers' certificates are checked
    against (default: the system's)."""

    allow_http: bool = False
    timeout: float = 10.0
    concurrency: int = 8
    ca_file: str = ""


def _webhooks(read: EnvReader) -> WebhookSettings:
    return WebhookSettings(
        allow_http=read.get("QUORRA_WEBHOOK_ALLOW_HTTP", "false", _flag),
        timeout=read.get("QUORRA_WEBHOOK_TIMEOUT", "10s", _positive_seconds),
        concurrency=read.get("QUORRA_WEBHOOK_CONCURRENCY", "8", _positive_int),
        ca_file=read.get("QUORRA_WEBHOOK_CA_FILE", "", _readable))


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = ""
    redis_url: str = ""
    redis_leases: str = ""  # "": the mode the Redis dataset records, else DEFAULT_REDIS_LEASES
    api_key: str = ""
    http_addr: Address = Address("0.0.0.0", 8080)
    grpc_addr: Address = Address("0.0.0.0", 50051)
    http_reuse_port: bool = False
    log_level: str = "info"
    lease_ttl: float = 30.0
    max_body_bytes: int = 10 * 1024 * 1024
    limits: Limits = dataclasses.field(default_factory=Limits)
    db_pool_size: int = 20
    db_timeout: float = 5.0
    reap_interval: float = 1.0
    shutdown_grace: float = 10.0
    dispatch_stall: float = 60.0
    replica_heartbeat: float = 2.0
    metrics_max_queues: int = 100
    retain_succeeded: float = 7 * 86400.0  # 0: keep forever
    retain_cancelled: float = 7 * 86400.0
    retain_dead: float = 30 * 86400.0
    retention_interval: float = 60.0
    job_timeout: float = 0.0  # the time limit of jobs enqueued without one (0: none)
    protect_metrics: bool = False  # /metrics and /readyz details need an operator/admin key
    auth_failure_limit: int = 20  # failed authentications per client address or key id …
    auth_failure_window: float = 60.0  # … per this many seconds, then 429/RESOURCE_EXHAUSTED
    tls: TlsSettings = dataclasses.field(default_factory=TlsSettings)
    jwt: JwtSettings = dataclasses.field(default_factory=JwtSettings)
    webhooks: WebhookSettings = dataclasses.field(default_factory=WebhookSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        read = EnvReader(env)
        return cls(
            database_url=read.get("DATABASE_URL", "", _postgres_url),
            redis_url=read.get("REDIS_URL", "", _redis_url),
            redis_leases=read.get("QUORRA_REDIS_LEASES", "", _redis_leases),
            api_key=read.get("QUORRA_API_KEY", "", str),
            http_addr=read.get("QUORRA_HTTP_ADDR", ":8080", parse_address),
            grpc_addr=read.get("QUORRA_GRPC_ADDR", ":50051", parse_address),
            http_reuse_port=read.get("QUORRA_HTTP_REUSE_PORT", "false", _flag),
            log_level=read.get("QUORRA_LOG_LEVEL", "info", _log_level),
            lease_ttl=read.get("QUORRA_LEASE_TTL", "30s", _lease_ttl),
            max_body_bytes=read.get("QUORRA_MAX_BODY_BYTES", str(10 * 1024 * 1024), _positive_int),
            limits=Limits(
                max_payload_bytes=read.get("QUORRA_MAX_PAYLOAD_BYTES", str(1024 * 1024),
                                           _positive_int),
                max_batch_jobs=read.get("QUORRA_MAX_BATCH_JOBS", "1000", _positive_int),
                max_session_credit=read.get("QUORRA_MAX_SESSION_CREDIT", "10000",
                                            _positive_int),
                max_message_items=read.get("QUORRA_MAX_MESSAGE_ITEMS", "1000", _positive_int),
                max_lease_queues=read.get("QUORRA_MAX_LEASE_QUEUES", "64", _positive_int),
                max_list_bytes=read.get("QUORRA_MAX_LIST_BYTES", str(8 * 1024 * 1024),
                                        _positive_int),
            ),
            db_pool_size=read.get("QUORRA_DB_POOL_SIZE", "20", _positive_int),
            db_timeout=read.get("QUORRA_DB_TIMEOUT", "5s", _positive_seconds),
            reap_interval=read.get("QUORRA_REAP_INTERVAL", "1s", _positive_seconds),
            shutdown_grace=read.get("QUORRA_SHUTDOWN_GRACE", "10s", _positive_seconds),
            dispatch_stall=read.get("QUORRA_DISPATCH_STALL", "60s", _positive_seconds),
            replica_heartbeat=read.get("QUORRA_REPLICA_HEARTBEAT", "2s", _positive_seconds),
            metrics_max_queues=read.get("QUORRA_METRICS_MAX_QUEUES", "100", _positive_int),
            retain_succeeded=read.get("QUORRA_RETAIN_SUCCEEDED", "7d", _retention),
            retain_cancelled=read.get("QUORRA_RETAIN_CANCELLED", "7d", _retention),
            retain_dead=read.get("QUORRA_RETAIN_DEAD", "30d", _retention),
            retention_interval=read.get("QUORRA_RETENTION_INTERVAL", "60s", _positive_seconds),
            job_timeout=read.get("QUORRA_JOB_TIMEOUT", "0", _job_timeout),
            protect_metrics=read.get("QUORRA_PROTECT_METRICS", "false", _flag),
            auth_failure_limit=read.get("QUORRA_AUTH_FAILURE_LIMIT", "20", _positive_int),
            auth_failure_window=read.get("QUORRA_AUTH_FAILURE_WINDOW", "1m", _positive_seconds),
            tls=_tls(read),
            jwt=_jwt(read),
            webhooks=_webhooks(read),
        )

    def retention(self) -> dict[JobStatus, float]:
        """Seconds each finished status is kept (0: forever)."""
        return {JobStatus.SUCCEEDED: self.retain_succeeded,
                JobStatus.CANCELLED: self.retain_cancelled, JobStatus.DEAD: self.retain_dead}

    def require_server(self) -> None:
        """What ``quorra-server`` cannot run without."""
        if not self.database_url:
            raise ConfigError("DATABASE_URL", "is required (a postgresql:// URL)")
        if not self.api_key:
            raise ConfigError("QUORRA_API_KEY", "is required (the key clients must present)")
        if self.api_key.strip() in SAMPLE_API_KEYS:
            raise ConfigError("QUORRA_API_KEY", "is the sample placeholder from deployments/; "
                                                "set your own secret (openssl rand -hex 24)")
        if len(self.api_key) < MIN_API_KEY_LENGTH:
            raise ConfigError("QUORRA_API_KEY", f"is too short: use at least "
                                                f"{MIN_API_KEY_LENGTH} characters (a long "
                                                f"random secret: openssl rand -hex 24)")
        self.tls.check()
        self.jwt.check()
        if self.limits.max_payload_bytes > self.max_body_bytes:
            raise ConfigError("QUORRA_MAX_PAYLOAD_BYTES", "must not exceed QUORRA_MAX_BODY_BYTES")
