"""Real ``quorra-server`` processes for end-to-end tests (free ports, bounded waits)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support import free_port, wait_until

__all__ = ["BIN", "ServerProcess", "is_up", "server_process", "stop"]

BIN = Path(sys.executable).parent


class ServerProcess:
    def __init__(self, url: str, api_key: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.api_key = api_key
        self.proc = proc
        self.log = log


def is_up(url: str, path: str = "/readyz") -> bool:
    try:
        return httpx.get(url + path, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


@contextlib.contextmanager
def server_process(database_url: str, log_dir: Path, api_key: str = "test-key-issue6"
                   ) -> Iterator[ServerProcess]:
    http, grpc = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "QUORRA_API_KEY": api_key,
           "QUORRA_HTTP_ADDR": f"127.0.0.1:{http}", "QUORRA_GRPC_ADDR": f"127.0.0.1:{grpc}",
           "QUORRA_LOG_LEVEL": "warn"}
    log = log_dir / f"server-{http}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([str(BIN / "quorra-server")], env=env, stdout=sink,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http}"
    try:
        wait_until(lambda: proc.poll() is not None or is_up(url), timeout=30,
                   what="quorra-server to be ready")
        assert proc.poll() is None, f"server exited: {log.read_text()}"
        yield ServerProcess(url, api_key, proc, log)
    finally:
        stop(proc)
