"""Test-time JWT material: signing keys generated with ``cryptography``, tokens signed with PyJWT,
and a JWKS served by a local HTTP server (counting its fetches)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from quorra.settings import JwtSettings

__all__ = ["AUDIENCE", "ISSUER", "Jwks", "Signer", "serve_jwks"]

ISSUER = "https://idp.test/"
AUDIENCE = "quorra-tests"


@dataclasses.dataclass
class Signer:
    """A private key that signs tokens, its public half as PEM and as a JWK."""

    kid: str = "k1"
    algorithm: str = "RS256"
    private: Any = None

    def __post_init__(self) -> None:
        if self.private is None:
            self.private = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
                            if self.algorithm.startswith(("RS", "PS"))
                            else ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_pem(self) -> str:
        pem: bytes = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return pem.decode()

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        found: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**found, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def token(self, *, role: str | None = "admin", ttl: float = 300.0, **claims: Any) -> str:
        now = time.time()
        body: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "tester",
                                "iat": int(now), "exp": int(now + ttl)}
        if role is not None:
            body["role"] = role
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.private, algorithm=self.algorithm,
                          headers={"kid": self.kid})

    def static_settings(self, **overrides: Any) -> JwtSettings:
        return dataclasses.replace(JwtSettings(public_key=self.public_pem, issuer=ISSUER,
                                               audience=AUDIENCE), **overrides)


@dataclasses.dataclass
class Jwks:
    url: str
    keys: list[dict[str, Any]]
    fetches: int = 0

    def settings(self, **overrides: Any) -> JwtSettings:
        return dataclasses.replace(JwtSettings(jwks_url=self.url, issuer=ISSUER,
                                               audience=AUDIENCE), **overrides)


@contextmanager
def serve_jwks(*signers: Signer) -> Iterator[Jwks]:
    """A JWKS of ``signers`` at ``http://127.0.0.1:<port>/jwks.json``; ``keys`` may be changed
    while it runs (rotation)."""
    holder: list[Jwks] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            jwks = holder[0]
            jwks.fetches += 1
            body = json.dumps({"keys": jwks.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Jwks(f"http://127.0.0.1:{server.server_address[1]}/jwks.json",
                       [s.jwk() for s in signers]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
