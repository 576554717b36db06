"""Bearer JWTs: claims to principal, every way a token is refused (expiry with leeway, issuer,
audience, algorithms never none nor HS*, missing claims), JWKS served by a local HTTP server
(cached, rotation, unknown kid), settings validation, and the credential's shape on the wire."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from quorra.core.errors import ConfigError
from quorra.core.keys import (
    JWT_KEY_ID,
    Keyring,
    Principal,
    Role,
    auth_metadata,
    looks_like_jwt,
)
from quorra.http.auth import header_credential
from quorra.rpc.auth import credential
from quorra.settings import Settings
from quorra.tokens import MAX_TOKEN_BYTES, TokenVerifier
from tests.jwt_support import AUDIENCE, ISSUER, Signer, serve_jwks

RSA = Signer()


async def verify(token: str, signer: Signer = RSA, **settings: Any) -> Principal | None:
    return await TokenVerifier(signer.static_settings(**settings)).verify(token.encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def hand_made(header: dict[str, Any], claims: dict[str, Any], secret: bytes = b"") -> str:
    """A token PyJWT would not make: ``none`` or HS256 keyed with the public key's PEM."""
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.digest(secret, signing.encode(), hashlib.sha256) if secret else b""
    return f"{signing}.{_b64(signature)}"


def claims(**extra: Any) -> dict[str, Any]:
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "role": "admin",
            "exp": int(time.time()) + 300, **extra}


async def test_claims_map_to_a_principal() -> None:
    token = RSA.token(role="worker", queues=["mail", "orders.*"], tenant="acme", sub="ci-bot")
    found = await verify(token)
    assert found is not None
    assert (found.role, found.queues, found.tenant, found.name, found.key_id) == (
        Role.WORKER, ("mail", "orders.*"), "acme", "ci-bot", JWT_KEY_ID)
    assert found.expires is not None and found.expires > time.time()
    plain = await verify(RSA.token(role="producer"))
    assert plain is not None and plain.queues == () and plain.tenant is None


async def test_a_claim_prefix() -> None:
    claims: dict[str, Any] = {"https://q/role": "operator", "https://q/tenant": "t1"}
    token = RSA.token(role=None, **claims)
    found = await verify(token, claim_prefix="https://q/")
    assert found is not None and found.role is Role.OPERATOR and found.tenant == "t1"
    assert await verify(token) is None  # without the prefix it names no role


@pytest.mark.parametrize("bad", [
    {"ttl": -60}, {"iss": "https://evil/"}, {"aud": "another-service"}, {"aud": None},
    {"iss": None}, {"exp": None}, {"sub": None}, {"role": None}, {"role": "root"},
    {"queues": "mail"}, {"queues": [1]}, {"queues": ["bad/pattern"]}, {"tenant": "a/b"},
    {"tenant": 7}, {"nbf": int(time.time()) + 3600},
])
async def test_refused_claims(bad: dict[str, Any]) -> None:
    ttl = bad.pop("ttl", 300.0)
    assert await verify(RSA.token(ttl=ttl, **bad)) is None


async def test_expiry_with_leeway() -> None:
    late = RSA.token(ttl=-10)
    assert await verify(late, leeway=30.0) is not None
    assert await verify(late, leeway=5.0) is None
    assert await verify(RSA.token(ttl=-40), leeway=30.0) is None


async def test_algorithms_are_pinned() -> None:
    pem = RSA.public_pem.encode()
    assert await verify(hand_made({"alg": "none", "typ": "JWT"}, claims())) is None
    confused = hand_made({"alg": "HS256", "typ": "JWT"}, claims(), secret=pem)
    assert await verify(confused) is None
    assert await verify(RSA.token(), algorithms=("ES256",)) is None  # RS256 not allowed
    ec = Signer(algorithm="ES256")
    assert await verify(ec.token(), ec) is not None
    assert await verify(ec.token(), RSA) is None  # signed by another key


async def test_garbage_and_oversized_tokens() -> None:
    for token in ("eyJ.x.y", "eyJhbGciOiJSUzI1NiJ9.e30.", "not a token", ""):
        assert await verify(token) is None
    huge = RSA.token(pad="x" * MAX_TOKEN_BYTES)
    assert await verify(huge) is None


async def test_jwks_is_fetched_once_and_follows_rotation() -> None:
    old, new = Signer(kid="old"), Signer(kid="new", algorithm="ES256")
    stranger, forged = Signer(kid="stranger"), Signer(kid="old")  # forged: the right kid
    with serve_jwks(old) as jwks:
        verifier = TokenVerifier(jwks.settings(), jwks_cooldown=1.0)
        for _ in range(5):
            assert await verifier.verify(old.token().encode()) is not None
        assert jwks.fetches == 1
        jwks.keys = [old.jwk(), new.jwk()]
        await asyncio.sleep(1.05)  # PyJWKClient refetches for an unknown kid after a cooldown
        assert await verifier.verify(new.token().encode()) is not None  # unknown kid: refetch
        assert jwks.fetches == 2
        assert await verifier.verify(stranger.token().encode()) is None
        assert await verifier.verify(stranger.token().encode()) is None
        assert jwks.fetches == 2  # an unknown kid refetches once per cooldown, not per token
        assert await verifier.verify(forged.token().encode()) is None


async def test_jwks_token_needs_a_kid_and_an_allowed_algorithm() -> None:
    signer = Signer(kid="k")
    with serve_jwks(signer) as jwks:
        verifier = TokenVerifier(jwks.settings(algorithms=("ES256",)))
        assert await verifier.verify(signer.token().encode()) is None
        no_kid = jwt.encode(claims(), signer.private, algorithm="RS256")
        assert await TokenVerifier(jwks.settings()).verify(no_kid.encode()) is None


async def test_unreachable_jwks_refuses() -> None:
    with serve_jwks() as jwks:
        url = jwks.url
    verifier = TokenVerifier(RSA.static_settings(public_key="", jwks_url=url))
    assert await verifier.verify(RSA.token().encode()) is None


async def test_keyring_tries_tokens_then_keys() -> None:
    ring = Keyring("admin-key-0123456789", tokens=TokenVerifier(RSA.static_settings()))
    assert ring.active(JWT_KEY_ID)
    found = await ring.verify(RSA.token(role="producer").encode())
    assert found is not None and found.role is Role.PRODUCER
    assert await ring.verify(b"admin-key-0123456789") is not None
    assert await ring.verify(Signer().token().encode()) is None
    plain = Keyring("admin-key-0123456789")
    assert not plain.active(JWT_KEY_ID)
    assert await plain.verify(RSA.token().encode()) is None  # JWTs off


def test_credential_shapes() -> None:
    token = RSA.token()
    assert looks_like_jwt(token.encode()) and not looks_like_jwt(b"qk_abcdefgh_xyz")
    assert auth_metadata(token) == (("authorization", f"Bearer {token}"),)
    assert auth_metadata("qk_abcdefgh_x") == (("x-api-key", "qk_abcdefgh_x"),)
    assert credential([("x-api-key", "k"), ("authorization", f"Bearer {token}")]) == \
        token.encode()
    assert credential([("x-api-key", "k"), ("authorization", "Basic zzz")]) == b"k"
    assert header_credential([(b"authorization", b"bearer  tok "), (b"x-api-key", b"k")]) == \
        b"tok"
    assert header_credential([(b"x-api-key", b"k1"), (b"x-api-key", b"k2")]) == b"k1"


def env(**extra: str) -> dict[str, str]:
    return {"DATABASE_URL": "postgresql://x/y", "QUORRA_API_KEY": "k" * 20, **extra}


def test_settings(tmp_path: Any) -> None:
    path = tmp_path / "pub.pem"
    path.write_text(RSA.public_pem)
    made = Settings.from_env(env(QUORRA_JWT_PUBLIC_KEY_FILE=str(path), QUORRA_JWT_ISSUER="i",
                                 QUORRA_JWT_AUDIENCE="a", QUORRA_JWT_LEEWAY="10s",
                                 QUORRA_JWT_ALGORITHMS="RS256, EdDSA"))
    made.require_server()
    assert made.jwt.enabled and made.jwt.leeway == 10.0
    assert made.jwt.algorithms == ("RS256", "EdDSA") and "BEGIN PUBLIC KEY" in made.jwt.public_key
    assert not Settings.from_env(env()).jwt.enabled


@pytest.mark.parametrize(("extra", "named"), [
    ({"QUORRA_JWT_ALGORITHMS": "HS256"}, "QUORRA_JWT_ALGORITHMS"),
    ({"QUORRA_JWT_ALGORITHMS": "none"}, "QUORRA_JWT_ALGORITHMS"),
    ({"QUORRA_JWT_LEEWAY": "1h"}, "QUORRA_JWT_LEEWAY"),
    ({"QUORRA_JWT_PUBLIC_KEY": "secret"}, "QUORRA_JWT_PUBLIC_KEY"),
    ({"QUORRA_JWT_JWKS_URL": "ftp://x"}, "QUORRA_JWT_JWKS_URL"),
])
def test_bad_jwt_settings(extra: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env(**extra))
    assert named in str(caught.value)


@pytest.mark.parametrize(("extra", "named"), [
    ({"QUORRA_JWT_JWKS_URL": "https://idp/jwks", "QUORRA_JWT_AUDIENCE": "a"},
     "QUORRA_JWT_ISSUER"),
    ({"QUORRA_JWT_JWKS_URL": "https://idp/jwks", "QUORRA_JWT_ISSUER": "i"},
     "QUORRA_JWT_AUDIENCE"),
    ({"QUORRA_JWT_JWKS_URL": "https://idp/jwks", "QUORRA_JWT_PUBLIC_KEY": RSA.public_pem,
      "QUORRA_JWT_ISSUER": "i", "QUORRA_JWT_AUDIENCE": "a"}, "QUORRA_JWT_JWKS_URL"),
])
def test_incomplete_jwt_settings(extra: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env(**extra)).require_server()
    assert named in str(caught.value)
