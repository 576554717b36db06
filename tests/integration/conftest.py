"""A running server runtime (Postgres-only) behind an in-process ASGI client (same event loop),
and its gRPC port (a free one) for worker-protocol tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import httpx
import pytest

from quorra.bootstrap import Runtime, running
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from quorra.settings import Address, Settings
from tests.asgi import asgi_transport
from tests.support import free_port

API_KEY = "test-key-0123456789"


def settings_for(url: str, **overrides: object) -> Settings:
    base = Settings(database_url=url, api_key=API_KEY, db_pool_size=8,
                    grpc_addr=Address("127.0.0.1", free_port()))
    return Settings(**{**{f: getattr(base, f) for f in base.__slots__}, **overrides})


@pytest.fixture
async def runtime(clean_db: str) -> AsyncIterator[Runtime]:
    async with running(settings_for(clean_db)) as rt:
        yield rt


def asgi_client(runtime: Runtime) -> httpx.AsyncClient:
    transport = asgi_transport(runtime.app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver",
                             headers={"X-API-Key": API_KEY})


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(runtime) as c:
        yield c


KEY = (("x-api-key", API_KEY),)


@dataclass
class Replica:
    runtime: Runtime
    target: str

    def channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.target)


@pytest.fixture
async def replica(clean_db: str) -> AsyncIterator[Replica]:
    async with running(settings_for(clean_db, shutdown_grace=2.0, reap_interval=0.2)) as rt:
        yield Replica(rt, f"127.0.0.1:{rt.rpc.port}")


@pytest.fixture
async def stub(replica: Replica) -> AsyncIterator[pb_grpc.WorkerServiceAsyncStub]:
    async with replica.channel() as channel:
        yield pb_grpc.WorkerServiceStub(channel)
