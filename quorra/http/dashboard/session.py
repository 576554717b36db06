"""Dashboard sessions and CSRF tokens, signed with a key derived from the API key.

A session cookie is ``<payload>.<signature>``: the payload holds an expiry and a random nonce,
the signature is an HMAC-SHA256 under ``secret = HMAC(api_key, "quorra dashboard session v1")``,
so every replica with the same API key accepts it and changing the key ends every session.
The payload also names the key id and role that logged in: a session of a revoked key is
refused (``guards.current_session`` asks the keyring), and the role decides what it may do.
The CSRF token is ``HMAC(secret, "csrf:" + nonce)``: bound to the session, never stored, and sent
back by the page in a header (fetch) or a form field (logout)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

import msgspec

from quorra.http.auth import equal_secrets

__all__ = ["SESSION_COOKIE", "LoginSession", "SessionSigner"]

SESSION_COOKIE = "quorra_session"


class LoginSession(msgspec.Struct, frozen=True):
    expires: int
    nonce: str
    key_id: str = "env"
    role: str = "admin"
    tenant: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, api_key: bytes, *, max_age: int = 12 * 3600,
                 clock: Callable[[], float] = time.time) -> None:
        self._api_key = api_key
        self._secret = hmac.digest(api_key, b"quorra dashboard session v1", hashlib.sha256)
        self.max_age = max_age
        self._clock = clock

    def key_matches(self, given: str) -> bool:
        """Constant-time comparison of a submitted API key."""
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), self._api_key)

    def _sign(self, data: bytes) -> str:
        return _b64(hmac.digest(self._secret, data, hashlib.sha256))

    def issue(self, key_id: str = "env", role: str = "admin", *, tenant: str | None = None,
              until: float | None = None) -> str:
        """A new session cookie value for the key ``key_id`` of role ``role`` (and tenant),
        ending after ``max_age`` or at ``until`` (a token's expiry) if sooner."""
        expires = int(self._clock()) + self.max_age
        session = LoginSession(expires=expires if until is None else min(expires, int(until)),
                          nonce=secrets.token_hex(16), key_id=key_id, role=role, tenant=tenant)
        payload = _b64(msgspec.json.encode(session))
        return f"{payload}.{self._sign(payload.encode())}"

    def read(self, cookie: str | None) -> LoginSession | None:
        """The session in a cookie value, or ``None`` when missing, forged or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, signature = cookie.split(".")
        if not equal_secrets(signature, self._sign(payload.encode("utf-8", "surrogatepass"))):
            return None
        try:
            session = msgspec.json.decode(_unb64(payload), type=LoginSession)
        except (binascii.Error, msgspec.DecodeError, ValueError):
            return None
        return session if session.expires > self._clock() else None

    def csrf_token(self, session: LoginSession) -> str:
        return self._sign(b"csrf:" + session.nonce.encode())

    def csrf_ok(self, session: LoginSession, token: str | None) -> bool:
        return bool(token) and equal_secrets(str(token), self.csrf_token(session))
