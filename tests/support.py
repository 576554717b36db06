"""Helpers for tests: service URLs, free ports, deadline-bounded waiting."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

__all__ = ["DATABASE_URL", "DROP_SCHEMA", "REDIS_URL", "eventually", "free_port", "listening",
           "missing", "require_tool", "wait_until"]

#: Every table Quorra's migrations made (all named quorra_*), gone: a database to migrate anew.
DROP_SCHEMA = """
DO $$
DECLARE name text;
BEGIN
  FOR name IN SELECT tablename FROM pg_tables
              WHERE schemaname = current_schema() AND tablename LIKE 'quorra\\_%' LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', name);
  END LOOP;
  FOR name IN SELECT p.oid::regprocedure::text FROM pg_proc p
              WHERE p.pronamespace = current_schema()::regnamespace
                AND p.proname LIKE 'quorra\\_%' LOOP
    EXECUTE 'DROP FUNCTION IF EXISTS ' || name || ' CASCADE';
  END LOOP;
END $$"""

T = TypeVar("T")

DATABASE_URL = os.environ.get(
    "QUORRA_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/quorra_test")
REDIS_URL = os.environ.get("QUORRA_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def _ephemeral_start() -> int:
    """Where the kernel starts picking the source ports of outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORT_FLOOR = 20000
_handed_out: set[int] = set()
_next_port = [_PORT_FLOOR + (os.getpid() * 7919) % 8000]


def free_port() -> int:
    """A loopback port nothing listens on, below the ephemeral range and never handed out twice
    by this process: an ephemeral port (bind to 0) can be taken as the source port of some
    client's connection before the server it was meant for binds it ("address already in
    use")."""
    ceiling = max(_ephemeral_start(), _PORT_FLOOR + 2000)
    for _ in range(ceiling - _PORT_FLOOR):
        port = _next_port[0]
        _next_port[0] = port + 1 if port + 1 < ceiling else _PORT_FLOOR
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free loopback port in {_PORT_FLOOR}..{ceiling}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


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


class TcpProxy:
    """A loopback TCP proxy a test can cut, to simulate a service outage over real sockets."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def cut(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


def missing(message: str) -> None:
    """Something a test needs is not on this machine: skip it, but fail it in CI."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str, package: str) -> str:
    """The path of command ``name`` (from Debian ``package``), or skip/fail as ``missing``."""
    found = shutil.which(name)
    if found is None:
        missing(f"{name} missing (Debian package {package})")
    assert found is not None
    return found


async def listening(db: str, connections: int, channel: str = "quorra_cancel") -> bool:
    """Whether at least ``connections`` sessions of database ``db`` LISTEN on ``channel``."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        cur = await conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query = %s "
                                 "AND datname = current_database()", (f"LISTEN {channel}",))
        row = await cur.fetchone()
    return row is not None and row[0] >= connections


async def flush_test_redis() -> None:
    """Empty the tests' Redis DB index, or skip the test when Redis is not there."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    except aioredis.RedisError as exc:
        pytest.skip(f"Redis unavailable: {exc}")
    finally:
        await client.aclose()
