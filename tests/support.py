"""Helpers for tests: service URLs, free ports, deadline-bounded waiting."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["DATABASE_URL", "REDIS_URL", "eventually", "free_port", "wait_until"]

T = TypeVar("T")

DATABASE_URL = os.environ.get(
    "QUORRA_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/quorra_test")
REDIS_URL = os.environ.get("QUORRA_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05,
               what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 10.0,
                     interval: float = 0.05, what: str = "condition") -> T:
    """Async ``wait_until``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
