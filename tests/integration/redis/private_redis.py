"""A private ``redis-server`` on a free port, for tests that flush, stop or kill Redis (the
shared test Redis serves others and is never touched that way)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from typing import Literal

import pytest
import redis

from tests.support import free_port, wait_until

__all__ = ["PrivateRedis"]


class PrivateRedis:
    def __init__(self, data_dir: str | None = None, *, config: Sequence[str] = ()) -> None:
        """``config``: more redis-server arguments, e.g. ``("--maxmemory-policy",
        "allkeys-lru")``; they come after the defaults (``--appendonly no``), so they win."""
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.data_dir = data_dir  # where an explicit SAVE writes dump.rdb (and restart loads it)
        self.config = tuple(config)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no",
             *(["--dir", self.data_dir] if self.data_dir else []), *self.config],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._pong, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def _pong(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_connect_timeout=0.2) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, mode: Literal["fast", "immediate"] = "fast", *, down: float = 0.0) -> float:
        """Stop (``fast``: SIGTERM, a clean shutdown; ``immediate``: SIGKILL) and start again
        on the same port, after ``down`` seconds stopped. Without persistence it comes back
        empty. Returns the seconds it was unavailable."""
        started = time.monotonic()
        if mode == "fast" and self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
            self.proc = None
        else:
            self.kill()
        if down > 0:
            time.sleep(down)  # the outage's planned length, not a wait for a condition
        self.start()
        return time.monotonic() - started

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)

    def used_memory(self) -> int:
        with self.client() as client:
            return int(client.info("memory")["used_memory"])

    def stop(self) -> None:
        self.kill()

