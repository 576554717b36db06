"""TLS end to end, with certificates made here by ``openssl`` (a CA, a server certificate for
127.0.0.1, a client certificate): a real ``quorra-server`` serving gRPC over mTLS and REST over
HTTPS; ``quorra.Client`` and a real ``quorra-worker`` connect with the CA and a client
certificate and a job runs; a plaintext client, a client that does not trust the CA and a client
without a certificate are refused; ``quorractl --ca-cert`` talks to the HTTPS API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import quorra
from quorra.cli import main
from quorra.client import ServerUnavailable
from tests.e2e.process import ServerProcess, start_server
from tests.e2e.worker_processes import stop_process
from tests.integration.restarts.handlers import RUNS_FILE_ENV
from tests.support import require_tool, wait_until

API_KEY = "e2e-key-tls-0123456789"
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OTHER = "other-ca"


def openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def make_ca(name: str, cwd: Path) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=cwd)


def make_cert(name: str, ca: str, cwd: Path, san: str = "") -> None:
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
            f"{name}.key", "-out", f"{name}.csr", cwd=cwd)
    extra = ["-extfile", "san.ext"] if san else []
    if san:
        (cwd / "san.ext").write_text(f"subjectAltName={san}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *extra, cwd=cwd)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("openssl", "openssl")
    cwd = tmp_path_factory.mktemp("certs")
    make_ca("ca", cwd)
    make_ca(OTHER, cwd)
    make_cert("server", "ca", cwd, san="IP:127.0.0.1,DNS:localhost")
    make_cert("client", "ca", cwd)
    return cwd


@pytest.fixture
def server(clean_db: str, certs: Path) -> Iterator[ServerProcess]:
    with start_server(clean_db, API_KEY, name="tls",
                      QUORRA_GRPC_TLS_CERT=str(certs / "server.pem"),
                      QUORRA_GRPC_TLS_KEY=str(certs / "server.key"),
                      QUORRA_GRPC_TLS_CLIENT_CA=str(certs / "ca.pem"),
                      QUORRA_HTTP_TLS_CERT=str(certs / "server.pem"),
                      QUORRA_HTTP_TLS_KEY=str(certs / "server.key")) as srv:
        yield srv


def tls_env(certs: Path, ca: str = "ca", client: bool = True) -> dict[str, str]:
    env = {"QUORRA_TLS_CA": str(certs / f"{ca}.pem")}
    if client:
        env |= {"QUORRA_TLS_CLIENT_CERT": str(certs / "client.pem"),
                "QUORRA_TLS_CLIENT_KEY": str(certs / "client.key")}
    return env


def client(server: ServerProcess, env: dict[str, str]) -> quorra.Client:
    return quorra.Client(server.grpc, api_key=API_KEY, env=env, retry_for=0.5, timeout=3)


def test_mtls_client_and_worker_run_a_job(server: ServerProcess, certs: Path,
                                          tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    with client(server, tls_env(certs)) as producer:
        job = producer.enqueue("count", {"n": 1}, queue="tls")
        assert producer.get(job.id).status == "pending"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORRA_")} | tls_env(certs)
    env |= {"QUORRA_GRPC_ADDR": server.grpc, "QUORRA_API_KEY": API_KEY,
            "QUORRA_WORKER_QUEUES": "tls", "PYTHONPATH": str(ROOT), RUNS_FILE_ENV: str(runs),
            "QUORRA_WORKER_HANDLERS": "tests.integration.restarts.handlers"}
    worker = subprocess.Popen([str(BIN / "quorra-worker")], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: runs.exists() and str(job.id) in runs.read_text(), timeout=30,
                   interval=0.1, what="the job to run over mTLS")
    finally:
        stop_process(worker)


@pytest.mark.parametrize("env", ["plaintext", "untrusted server", "no client certificate"])
def test_refused_without_the_right_certificates(server: ServerProcess, certs: Path,
                                                env: str) -> None:
    chosen = {"plaintext": {}, "untrusted server": tls_env(certs, ca=OTHER),
              "no client certificate": tls_env(certs, client=False)}[env]
    with client(server, chosen) as producer, pytest.raises(ServerUnavailable):
        producer.enqueue("count", {"n": 1}, queue="tls")


def test_rest_over_https_with_the_ca(server: ServerProcess, certs: Path) -> None:
    assert server.url.startswith("https://")
    with pytest.raises(httpx.ConnectError):  # the system's roots do not know this CA
        httpx.get(f"{server.url}/healthz", timeout=5)
    result = CliRunner().invoke(main, ["--server", server.url, "--api-key", API_KEY,
                                       "--ca-cert", str(certs / "ca.pem"), "-o", "json",
                                       "queues"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
