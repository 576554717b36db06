"""An in-process server replica (``bootstrap.running``: gRPC on a free port, no HTTP listener)
and gRPC clients for it."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from quorra.bootstrap import Runtime, running
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from quorra.settings import Address, Settings
from tests.support import free_port

API_KEY = "test-key"


@dataclass
class Replica:
    runtime: Runtime
    target: str

    def channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.target)


@pytest.fixture
async def replica(clean_db: str) -> AsyncIterator[Replica]:
    settings = Settings(database_url=clean_db, api_key=API_KEY,
                        grpc_addr=Address("127.0.0.1", free_port()), shutdown_grace=2.0,
                        reap_interval=0.2)
    context = running(settings)
    with warnings.catch_warnings():  # litestar 2.25 deprecates the core's path-parameter style
        warnings.simplefilter("ignore", DeprecationWarning)
        runtime = await context.__aenter__()
    try:
        yield Replica(runtime, f"127.0.0.1:{runtime.rpc.port}")
    finally:
        await context.__aexit__(None, None, None)


@pytest.fixture
async def stub(replica: Replica) -> AsyncIterator[pb_grpc.WorkerServiceStub]:
    async with replica.channel() as channel:
        yield pb_grpc.WorkerServiceStub(channel)


KEY = (("x-api-key", API_KEY),)
