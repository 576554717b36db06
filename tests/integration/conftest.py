"""A running server runtime (Postgres-only) behind an in-process ASGI client (same event loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from quorra.bootstrap import Runtime, running
from quorra.settings import Settings

API_KEY = "test-key-0123456789"


def settings_for(url: str, **overrides: object) -> Settings:
    base = Settings(database_url=url, api_key=API_KEY, db_pool_size=8)
    return Settings(**{**{f: getattr(base, f) for f in base.__slots__}, **overrides})  # type: ignore[arg-type]


@pytest.fixture
async def runtime(clean_db: str) -> AsyncIterator[Runtime]:
    async with running(settings_for(clean_db)) as rt:
        yield rt


def asgi_client(runtime: Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=runtime.app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver",
                             headers={"X-API-Key": API_KEY})


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(runtime) as c:
        yield c
