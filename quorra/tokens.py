"""Bearer JWTs: verified with PyJWT against a static public key or a JWKS URL, mapped to the
``Principal`` every front door uses.

Only the algorithms of ``JwtSettings.algorithms`` are accepted (asymmetric ones: never ``none``,
never ``HS*``); ``exp``, ``iss``, ``aud``, ``sub`` and the role claim are required, ``exp`` and
``nbf`` are checked with ``leeway`` seconds of clock skew. Claims (with the optional prefix):
``role`` (``producer|worker|operator|admin``), ``queues`` (a list of queue patterns, none:
every queue), ``tenant`` (a tenant name, none: no tenant).

A JWKS is fetched by PyJWT's ``PyJWKClient`` (in a thread, so the event loop never waits on the
network), which caches the key set for ``jwks_cache`` seconds and fetches it again at most once
per 30 s cooldown for an unknown ``kid`` (every fetch starts the cooldown: publish a new key
in the JWKS before signing with it); the keys found are kept here for the same time, so a
request with a known ``kid`` costs a signature check and no thread hop. A token that fails for
any reason is just ``None`` (the caller answers 401 and counts the failure); the reason is
logged at debug level, never the token."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from quorra.core.errors import InvalidInput
from quorra.core.keys import JWT_KEY_ID, Principal, Role, check_patterns, check_tenant
from quorra.settings import JwtSettings

__all__ = ["MAX_TOKEN_BYTES", "JwksKeys", "TokenVerifier", "claims_principal"]

log = logging.getLogger(__name__)
MAX_TOKEN_BYTES = 8192
JWKS_TIMEOUT = 5.0
JWKS_COOLDOWN = 30.0


class BadClaims(Exception):
    pass


def claims_principal(claims: dict[str, Any], prefix: str = "") -> Principal:
    """The principal a verified token's claims name (``BadClaims`` when they name none)."""
    try:
        role = Role(str(claims[f"{prefix}role"]))
    except (KeyError, ValueError):
        raise BadClaims("role claim missing or not a role") from None
    queues = claims.get(f"{prefix}queues", [])
    tenant = claims.get(f"{prefix}tenant")
    if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
        raise BadClaims("queues claim is not a list of patterns")
    if tenant is not None and not isinstance(tenant, str):
        raise BadClaims("tenant claim is not a string")
    try:
        patterns = check_patterns(queues)
        tenant = check_tenant(tenant) if tenant is not None else None
    except InvalidInput as exc:
        raise BadClaims(exc.message) from None
    return Principal(role, patterns, JWT_KEY_ID, str(claims.get("sub", ""))[:100], tenant,
                     float(claims["exp"]))


class JwksKeys:
    """Signing keys by ``kid`` from a JWKS URL, through ``PyJWKClient``'s cache."""

    def __init__(self, url: str, *, lifespan: float = 300.0, cooldown: float = JWKS_COOLDOWN,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = jwt.PyJWKClient(url, lifespan=lifespan, timeout=JWKS_TIMEOUT,
                                       cooldown_duration=cooldown)
        self._lifespan = lifespan
        self._clock = clock
        self._known: dict[str, tuple[float, jwt.PyJWK]] = {}
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        found = self._known.get(kid)
        if found is not None and found[0] > self._clock():
            return found[1]
        async with self._lock:  # one fetch at a time; the others wait for its result
            try:
                key = await asyncio.to_thread(self._client.get_signing_key, kid)
            except jwt.PyJWKClientError as exc:
                log.warning("JWKS: no key %r (%s)", kid[:64], exc)
                return None
        self._known = {**self._known, kid: (self._clock() + self._lifespan, key)}
        return key


class TokenVerifier:
    def __init__(self, settings: JwtSettings, *, jwks_cooldown: float = JWKS_COOLDOWN) -> None:
        self.settings = settings
        self._jwks = JwksKeys(settings.jwks_url, lifespan=settings.jwks_cache,
                              cooldown=jwks_cooldown) if settings.jwks_url else None
        self._static = load_pem_public_key(settings.public_key.encode()) \
            if settings.public_key else None

    async def verify(self, token: bytes) -> Principal | None:
        if len(token) > MAX_TOKEN_BYTES:
            return None
        try:
            key = await self._key(token)
            if key is None:
                return None
            claims = self._decode(token, key)
            return claims_principal(claims, self.settings.claim_prefix)
        except (jwt.PyJWTError, BadClaims, ValueError, TypeError) as exc:  # TypeError: key kind
            log.debug("bearer token refused: %s", exc)
            return None

    async def _key(self, token: bytes) -> Any:
        if self._jwks is None:
            return self._static
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str) or not kid:
            raise jwt.InvalidTokenError("no kid in the token header (a JWKS needs one)")
        return await self._jwks.key(kid)

    def _decode(self, token: bytes, key: Any) -> dict[str, Any]:
        s = self.settings
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=list(s.algorithms), audience=s.audience, issuer=s.issuer,
            leeway=s.leeway, options={"require": ["exp", "iss", "aud", "sub"]})
        return claims
