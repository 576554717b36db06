"""Bearer JWTs with real processes: a ``quorra-server`` verifying tokens against a JWKS served by
the test, a real ``quorra-worker`` authenticating with a worker token (sent as ``authorization:
Bearer``) running its queue, one with an expired token refused, and ``quorractl`` with an
operator token; in both dispatch modes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_workers import counts
from tests.e2e.worker_processes import BIN, Server, Workers, process_env, start_server
from tests.jwt_support import AUDIENCE, ISSUER, Jwks, Signer, serve_jwks
from tests.support import wait_until

SIGNER = Signer(kid="e2e")


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    with serve_jwks(SIGNER) as served:
        yield served


@pytest.fixture(params=["postgres", "redis"])
def jwt_server(request: pytest.FixtureRequest, clean_db: str, tmp_path: Path,
               jwks: Jwks) -> Iterator[Server]:
    server = start_server(clean_db, tmp_path,
                          leases="grant" if request.param == "redis" else "postgres",
                          QUORRA_JWT_JWKS_URL=jwks.url, QUORRA_JWT_ISSUER=ISSUER,
                          QUORRA_JWT_AUDIENCE=AUDIENCE)
    yield server
    server.stop()


def test_a_worker_runs_its_queue_with_a_jwt(clean_db: str, jwt_server: Server,
                                            tmp_path: Path, jwks: Jwks) -> None:
    producer = SIGNER.token(role="producer", queues=["mail"], ttl=600)
    headers = {"Authorization": f"Bearer {producer}"}
    with httpx.Client(base_url=jwt_server.http, headers=headers, timeout=10) as client:
        for n in range(5):
            made = client.post("/v1/jobs", json={"type": "test_job", "queue": "mail",
                                                 "payload": {"n": n}})
            assert made.status_code == 201, made.text
    workers = Workers(jwt_server, tmp_path)
    try:
        token = SIGNER.token(role="worker", queues=["mail"], sub="mailer", ttl=600)
        workers.start("mailer", QUORRA_API_KEY=token, QUORRA_WORKER_QUEUES="mail")
        wait_until(lambda: counts(clean_db).get("succeeded") == 5, timeout=30,
                   what="the JWT worker to run its queue")
        expired = workers.start("expired", QUORRA_API_KEY=SIGNER.token(role="worker", ttl=-120),
                                QUORRA_WORKER_QUEUES="mail")
        assert expired.wait(15) == 1
        assert "UNAUTHENTICATED" in workers.log("expired")
    finally:
        for proc in workers.procs:
            proc.terminate()
            proc.wait(20)
    assert jwks.fetches >= 1
    done = subprocess.run(
        [str(BIN / "quorractl"), "--server", jwt_server.http, "-o", "json", "stats"],
        env=process_env(QUORRA_API_KEY=SIGNER.token(role="operator")), capture_output=True,
        timeout=30, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert "mail" in done.stdout.decode()
