"""Several ``quorra-server`` processes on one HTTP port (``QUORRA_HTTP_REUSE_PORT``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from quorra.core.errors import ConfigError
from quorra.settings import Settings
from tests.support import free_port, wait_until

SERVER = str(Path(sys.executable).parent / "quorra-server")


def test_reuse_port_flag_parses() -> None:
    assert Settings.from_env({}).http_reuse_port is False
    assert Settings.from_env({"QUORRA_HTTP_REUSE_PORT": "true"}).http_reuse_port is True
    assert Settings.from_env({"QUORRA_HTTP_REUSE_PORT": "0"}).http_reuse_port is False
    with pytest.raises(ConfigError, match="QUORRA_HTTP_REUSE_PORT"):
        Settings.from_env({"QUORRA_HTTP_REUSE_PORT": "maybe"})


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds a listening socket on ``port`` (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port
               and cols[9] in inodes for cols in (row.split() for row in rows))


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            status: int = resp.status
            return status == 200
    except OSError:
        return False


def test_two_replicas_share_one_port(clean_db: str) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": clean_db,
           "QUORRA_API_KEY": "reuse-port-key-0123456789",
           "QUORRA_HTTP_ADDR": f"127.0.0.1:{port}", "QUORRA_GRPC_ADDR": f"127.0.0.1:{free_port()}",
           "QUORRA_HTTP_REUSE_PORT": "true", "QUORRA_LOG_LEVEL": "warn"}
    procs = [subprocess.Popen([SERVER], env=env) for _ in range(2)]
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        for proc in procs:
            wait_until(lambda p=proc: p.poll() is not None or _listens(p.pid, port),  # type: ignore[misc]
                       timeout=30, what="each replica to listen")
        # Both bound the port (neither failed with "address in use") and it answers.
        assert all(proc.poll() is None for proc in procs)
        for _ in range(20):
            assert _healthy(url)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=20) for proc in procs]
    assert codes == [0, 0]
