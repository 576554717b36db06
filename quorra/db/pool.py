"""The connection pool and the one place psycopg errors become ``QuorraError``s."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import psycopg_pool

from quorra.core.errors import StoreUnavailable

__all__ = ["Pool", "connection", "create_pool", "translate_errors"]


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute("SET TIME ZONE 'UTC'")


Pool = psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]


def create_pool(url: str, *, max_size: int, timeout: float) -> Pool:
    """An unopened pool of autocommit connections (single statements commit by themselves)."""
    return psycopg_pool.AsyncConnectionPool(
        url,
        min_size=min(2, max_size),
        max_size=max_size,
        timeout=timeout,
        open=False,
        configure=_configure,
        kwargs={"autocommit": True, "connect_timeout": max(1, round(timeout))},
        name="quorra",
    )


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Connection-level failures mean the store is unavailable (HTTP 503, gRPC UNAVAILABLE)."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout) as exc:
        raise StoreUnavailable(f"PostgreSQL is unavailable: {type(exc).__name__}") from exc


@contextlib.asynccontextmanager
async def connection(
    pool: Pool,
) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
    with translate_errors():
        async with pool.connection() as conn:
            yield conn
