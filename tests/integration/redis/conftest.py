"""Fixtures for Redis-mode integration tests: a private Redis server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.redis.private_redis import PrivateRedis


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    try:
        yield server
    finally:
        server.stop()
