"""The Redis client, configured to fail fast: a dead Redis must switch dispatch to Postgres in
well under a second, not hide behind client retries with backoff."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["connect"]


def connect(url: str, *, connect_timeout: float = 0.5, timeout: float = 2.0,
            max_connections: int = 64) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url, decode_responses=True, socket_connect_timeout=connect_timeout,
        socket_timeout=timeout, max_connections=max_connections, timeout=timeout,
        retry=Retry(NoBackoff(), 1), health_check_interval=0)
    # One immediate retry on a connection error replaces a pooled connection that died with a
    # restarted Redis; a Redis that is down still fails in milliseconds (connection refused)
    # or after `connect_timeout`.
    client = aioredis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 1))
    client.auto_close_connection_pool = True  # aclose() closes the pool too (as from_pool does)
    return client
