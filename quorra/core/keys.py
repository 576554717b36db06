"""API keys and the principal every front door receives.

A key is ``qk_<id>_<secret>``: an 8-character id (shown in listings and logs) and at least 32
random url-safe characters. Only ``SHA-256(key)`` is stored; keys are high-entropy, so a fast
hash is right, and lookups compare digests in constant time. ``QUORRA_API_KEY`` is an ``admin``
key outside this scheme (id ``env``), compared in constant time as before.

``Keyring`` is the in-memory view every replica authenticates against: a dict from digest to
principal, replaced whole when the stored keys are read again, so a request costs one SHA-256
and one dict lookup."""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from quorra.core.errors import InvalidInput

__all__ = ["ADMIN", "ENV_KEY_ID", "JWT_KEY_ID", "ROLE_PERMISSIONS", "ApiKey", "Keyring", "NewKey",
           "Permission", "Principal", "Role", "TokenCheck", "auth_metadata", "check_key_name",
           "check_patterns", "check_tenant", "hash_key", "key_id_of", "looks_like_jwt",
           "new_key"]

ENV_KEY_ID = "env"  # the principal of QUORRA_API_KEY
JWT_KEY_ID = "jwt"  # the principals of bearer JWTs
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY = re.compile(r"^qk_(?P<id>[a-z0-9]{8})_(?P<secret>[A-Za-z0-9_-]{32,})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:@-]{0,99}$")
_PATTERN = re.compile(r"^[A-Za-z0-9_.:*?\[\]!-]{1,128}$")
MAX_PATTERNS = 64


class Role(enum.StrEnum):
    PRODUCER = "producer"
    WORKER = "worker"
    OPERATOR = "operator"
    ADMIN = "admin"


class Permission(enum.StrEnum):
    ENQUEUE = "enqueue"  # add jobs
    READ_JOBS = "read_jobs"  # one job, a queue's job listing
    READ_ALL = "read_all"  # queue counts, recent jobs, workers, limits, schedules, metrics
    LEASE = "lease"  # lease, heartbeat, settle
    MANAGE_JOBS = "manage_jobs"  # retry, cancel, delete, retry a queue's dead jobs
    DASHBOARD = "dashboard"  # log in to the dashboard
    QUEUES = "queues"  # pause, resume, limits
    SCHEDULES = "schedules"  # create, replace, delete, pause, resume schedules
    KEYS = "keys"  # create, list, revoke API keys
    WEBHOOKS = "webhooks"  # create, list, disable, delete webhook subscriptions


_OPERATOR = frozenset({Permission.READ_JOBS, Permission.READ_ALL, Permission.MANAGE_JOBS,
                       Permission.DASHBOARD})
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PRODUCER: frozenset({Permission.ENQUEUE, Permission.READ_JOBS}),
    Role.WORKER: frozenset({Permission.LEASE}),
    Role.OPERATOR: _OPERATOR,
    Role.ADMIN: frozenset(Permission),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a role, the queue patterns it is limited to (empty: every queue), the id
    of its key (``jwt`` for a bearer token), the tenant it belongs to (``None``: none), and for
    a token its expiry (Unix seconds)."""

    role: Role
    queues: tuple[str, ...] = ()
    key_id: str = ENV_KEY_ID
    name: str = ""
    tenant: str | None = None
    expires: float | None = None

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    @property
    def every_queue(self) -> bool:
        return not self.queues

    def may_use(self, queue: str) -> bool:
        return not self.queues or any(fnmatch.fnmatchcase(queue, p) for p in self.queues)

    def denied_queues(self, queues: Iterable[str]) -> list[str]:
        """The queues of ``queues`` outside this principal's patterns."""
        return [] if not self.queues else sorted({q for q in queues if not self.may_use(q)})


ADMIN = Principal(Role.ADMIN, name="QUORRA_API_KEY")


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, as listed: never the secret, never its hash."""

    id: str
    name: str
    role: Role
    queues: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None
    tenant: str | None = None

    def principal(self) -> Principal:
        return Principal(self.role, self.queues, self.id, self.name, self.tenant)


@dataclasses.dataclass(frozen=True, slots=True)
class NewKey:
    key: ApiKey
    secret: str  # the whole key, shown once
    digest: bytes


def hash_key(key: str | bytes) -> bytes:
    raw = key if isinstance(key, bytes) else key.encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).digest()


def key_id_of(given: bytes) -> str | None:
    """The id part of something that looks like a key (for throttling), else ``None``."""
    if given[:3] == b"qk_" and len(given) > 12 and given[11:12] == b"_":
        text = given[3:11].decode("ascii", "replace")
        return text if text.isalnum() else None
    return None


def check_key_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput("name", "1-100 letters, digits, spaces and . _ : @ - (starting with "
                                   "a letter or digit)")
    return name


def check_tenant(tenant: str) -> str:
    if not _TENANT.match(tenant):
        raise InvalidInput("tenant", "1-64 letters, digits and . _ - (starting with a letter or "
                                     "digit)")
    return tenant


def looks_like_jwt(given: bytes) -> bool:
    """A compact JWS (``eyJ…`` header, three dot-separated parts), not an API key."""
    return given[:3] == b"eyJ" and given.count(b".") == 2


def auth_metadata(credential: str) -> tuple[tuple[str, str], ...]:
    """The header or call metadata presenting ``credential`` (clients use it):
    ``authorization: Bearer`` for a JWT, ``x-api-key`` for an API key."""
    if looks_like_jwt(credential.encode("utf-8", "surrogatepass")):
        return (("authorization", f"Bearer {credential}"),)
    return (("x-api-key", credential),)


class TokenCheck(Protocol):
    async def verify(self, token: bytes) -> Principal | None: ...


def check_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    found = tuple(dict.fromkeys(patterns))
    if len(found) > MAX_PATTERNS:
        raise InvalidInput("queues", f"at most {MAX_PATTERNS} patterns")
    for pattern in found:
        if not _PATTERN.match(pattern):
            raise InvalidInput("queues", f"invalid queue pattern {pattern!r} (queue-name "
                                         "characters and the globs * ? [...])")
    return found


def new_key(name: str, role: Role, queues: Iterable[str], *, created_at: datetime,
            tenant: str | None = None) -> NewKey:
    """A fresh key: 8-char id, 43-char secret (256 bits) from ``secrets``."""
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    secret = f"qk_{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKey(key_id, check_key_name(name), role, check_patterns(queues), created_at,
                    tenant=check_tenant(tenant) if tenant is not None else None)
    return NewKey(record, secret, hash_key(secret))


class Keyring:
    """The keys a replica accepts: the settings' admin key plus the stored, unrevoked keys."""

    def __init__(self, admin_key: str | bytes = b"", *, tokens: TokenCheck | None = None) -> None:
        raw = admin_key if isinstance(admin_key, bytes) else admin_key.encode(
            "utf-8", "surrogatepass")
        self._admin = raw
        self.tokens = tokens
        self._by_digest: dict[bytes, Principal] = {}
        self._fixed = frozenset(({ENV_KEY_ID} if raw else set())
                                | ({JWT_KEY_ID} if tokens else set()))
        self._ids: frozenset[str] = self._fixed
        self.loaded = 0  # how many times the stored keys were read

    def replace(self, keys: Iterable[tuple[ApiKey, bytes]]) -> None:
        """The stored keys as read now (revoked ones left out by the caller)."""
        table = {digest: key.principal() for key, digest in keys if key.revoked_at is None}
        self._by_digest = table
        self._ids = frozenset({p.key_id for p in table.values()}) | self._fixed
        self.loaded += 1

    def add(self, key: ApiKey, digest: bytes) -> None:
        self._by_digest = {**self._by_digest, digest: key.principal()}
        self._ids = self._ids | {key.id}

    def remove(self, key_id: str) -> None:
        self._by_digest = {d: p for d, p in self._by_digest.items() if p.key_id != key_id}
        self._ids = self._ids - {key_id}

    def active(self, key_id: str) -> bool:
        return key_id in self._ids

    async def verify(self, given: bytes) -> Principal | None:
        """``authenticate``, and a JWT-shaped credential checked as a bearer token first when
        tokens are accepted."""
        if self.tokens is not None and looks_like_jwt(given):
            found = await self.tokens.verify(given)
            if found is not None:
                return found
        return self.authenticate(given)

    def authenticate(self, given: bytes) -> Principal | None:
        """The principal of a presented key, or ``None``. The admin key is compared in constant
        time; a stored key is found by its digest (a digest says nothing about the key)."""
        if not given:
            return None
        if given[:3] == b"qk_":
            found = self._by_digest.get(hash_key(given))
            if found is not None:
                return found
        if self._admin and hmac.compare_digest(given, self._admin):
            return ADMIN
        return None
