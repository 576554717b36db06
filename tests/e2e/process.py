"""Start and stop real ``quorra-server`` processes for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import free_port, wait_until

__all__ = ["ARTIFACTS", "ServerProcess", "server_command", "server_env", "start_server"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def server_command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("quorra-server")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "quorra.server"]
    return [*base, *args]


def server_env(database_url: str, api_key: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORRA_")}
    env.pop("REDIS_URL", None)
    return env | {"DATABASE_URL": database_url, "QUORRA_API_KEY": api_key,
                  "QUORRA_LOG_LEVEL": "warn"} | extra


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    grpc: str = ""  # host:port of its gRPC listener

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Signal the server and wait for it to exit; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
            raise


@contextlib.contextmanager
def start_server(database_url: str, api_key: str, name: str = "server",
                 **extra_env: str) -> Iterator[ServerProcess]:
    """A ready ``quorra-server`` on a free port; stopped (SIGTERM, then SIGKILL) at exit."""
    port = free_port()
    ports = {"QUORRA_HTTP_ADDR": f"127.0.0.1:{port}",
             "QUORRA_GRPC_ADDR": f"127.0.0.1:{free_port()}"}
    env = server_env(database_url, api_key, **(ports | extra_env))
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"e2e-{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(server_command(), env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    scheme = "https" if extra_env.get("QUORRA_HTTP_TLS_CERT") else "http"
    server = ServerProcess(url=f"{scheme}://127.0.0.1:{port}", process=process, log=log_path,
                           grpc=env["QUORRA_GRPC_ADDR"])

    def ready() -> bool:
        assert process.poll() is None, f"quorra-server exited; see {log_path}"
        try:  # readiness only: the TLS tests check certificates themselves
            return httpx.get(f"{server.url}/readyz", timeout=1,
                             verify=scheme == "http").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=30, interval=0.1, what="quorra-server to be ready")
        yield server
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.stop()
