"""The Redis client, configured to fail fast: a dead Redis must switch dispatch to Postgres in
well under a second, not hide behind client retries with backoff.

A URL with the ``redis+cluster://`` (or ``rediss+cluster://``) scheme names a Redis Cluster: the
client is redis-py's cluster client, started from that one node (it discovers the others). It
follows ``MOVED``/``ASK`` redirections and, after a connection error, refreshes the slot map
and retries once, without backoff (see ``docs/architecture.md``, "Redis Cluster").
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["CLUSTER_SCHEMES", "connect", "is_cluster", "is_cluster_url"]

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def is_cluster(client: Any) -> bool:
    """Whether ``client`` talks to a Redis Cluster."""
    return isinstance(client, RedisCluster)


def connect(url: str, *, connect_timeout: float = 0.5, timeout: float = 2.0,
            max_connections: int = 64) -> Any:
    """A standalone client (``aioredis.Redis``), or a ``RedisCluster`` for a cluster URL."""
    if is_cluster_url(url):
        return _cluster(url, connect_timeout=connect_timeout, timeout=timeout,
                        max_connections=max_connections)
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


def _cluster(url: str, *, connect_timeout: float, timeout: float,
             max_connections: int) -> RedisCluster:
    plain = url.replace("+cluster://", "://", 1)
    # One retry without backoff after a connection error, a timeout or CLUSTERDOWN: the client
    # reloads the slot map first, so a failover already finished is followed at once; one still
    # under way fails the call (Quorra falls back to Postgres-only dispatch if it lasts).
    # MOVED/ASK are followed by the client in any case (they are not failures).
    return RedisCluster.from_url(
        plain, decode_responses=True, socket_connect_timeout=connect_timeout,
        socket_timeout=timeout, max_connections=max_connections, health_check_interval=0,
        retry=Retry(NoBackoff(), 1), require_full_coverage=False, reinitialize_steps=0)
