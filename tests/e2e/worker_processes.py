"""Real processes for the worker tests: a ``quorra-server`` that can be stopped and started
again on the same ports, and ``quorra-worker`` processes. The fixtures
(``worker_server``, ``workers``, ``stop_process``) are in ``conftest.py``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from tests.support import REDIS_URL, free_port, wait_until

API_KEY = "e2e-key-issue3-workers"
BIN = Path(sys.executable).parent


def process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORRA_")}
    env.update(extra)
    return env


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


@dataclass
class Server:
    env: dict[str, str]
    http: str
    grpc: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(BIN / "quorra-server")], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_until(self._healthy, timeout=30, what="quorra-server to answer /healthz")

    def _healthy(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"{self.http}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.http, headers={"X-API-Key": API_KEY}, timeout=10)

    def stop(self) -> int:
        assert self.proc is not None
        return stop_process(self.proc)


@dataclass
class Workers:
    server: Server
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        settings = {"QUORRA_WORKER_ID": name, "QUORRA_GRPC_ADDR": self.server.grpc,
                    "QUORRA_API_KEY": API_KEY, **env}
        with (self.tmp / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen([str(BIN / "quorra-worker")], env=process_env(**settings),
                                    stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()


StopFn = Callable[[subprocess.Popen[bytes]], int]


def start_server(database_url: str, tmp_path: Path, *, leases: str = "postgres",
                 **settings: str) -> Server:
    """A real ``quorra-server``, started and answering: Postgres-only (``leases="postgres"``),
    or in Redis mode with ``QUORRA_REDIS_LEASES=leases`` (``grant``, ``stream``) on the tests'
    Redis DB, flushed first (the test is skipped when Redis is down)."""
    extra = dict(settings)
    if leases != "postgres":
        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.flushdb()
        except redis.RedisError as exc:
            pytest.skip(f"Redis unavailable: {exc}")
        finally:
            client.close()
        extra.update(REDIS_URL=REDIS_URL, QUORRA_REDIS_LEASES=leases)
    http_port, grpc_port = free_port(), free_port()
    env = process_env(**{"DATABASE_URL": database_url, "QUORRA_API_KEY": API_KEY,
                         "QUORRA_LOG_LEVEL": "warn", "QUORRA_HTTP_ADDR": f"127.0.0.1:{http_port}",
                         "QUORRA_GRPC_ADDR": f"127.0.0.1:{grpc_port}",
                         "QUORRA_SHUTDOWN_GRACE": "5s", **extra})
    server = Server(env, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}",
                    tmp_path / "server.log")
    server.start()
    if leases != "postgres":
        wait_until(lambda: server.client().get("/readyz").json().get("mode") == "redis",
                   timeout=15, what="Redis dispatch mode")
    return server
