"""Two server replicas on one database see each other: a worker session on replica B shows on
replica A's ``/v1/workers`` and dashboard overview (and goes when it closes), both are listed by
``/v1/replicas``, B's enqueues reach A's throughput; a replica whose heartbeat stopped is shown
gone and no longer counted, then deleted; one that stops cleanly deletes its own row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import psycopg
import pytest

from quorra.bootstrap import Runtime, running
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.contract.conftest import spec
from tests.integration.conftest import API_KEY, KEY, asgi_client, settings_for
from tests.integration.test_role_matrix import login
from tests.support import eventually

BEAT = 0.2


@pytest.fixture
async def pair(clean_db: str) -> AsyncIterator[tuple[Runtime, Runtime]]:
    async with running(settings_for(clean_db, replica_heartbeat=BEAT)) as a, \
            running(settings_for(clean_db, replica_heartbeat=BEAT)) as b:
        yield a, b


async def _workers(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    listed = (await client.get("/v1/workers")).json()["workers"]
    return sorted((w["worker_id"], w["replica"]) for w in listed)


async def _overview(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/dashboard/api/overview")).json()
    return body


async def test_a_worker_on_b_shows_on_a(pair: tuple[Runtime, Runtime]) -> None:
    a, b = pair
    b_id = b.cluster.identity.id
    async with asgi_client(a) as client, \
            grpc.aio.insecure_channel(f"127.0.0.1:{b.rpc.port}") as channel:
        call = pb_grpc.WorkerServiceStub(channel).Session(metadata=KEY)
        await call.write(pb.SessionRequest(open=pb.SessionOpen(worker_id="w-b", queues=["q"]),
                                           credit=1))
        await eventually(lambda: _has(client, [("w-b", b_id)]), timeout=10)
        replicas = (await client.get("/v1/replicas")).json()["replicas"]
        assert {r["id"]: r["live"] for r in replicas} == {a.cluster.identity.id: True,
                                                          b_id: True}
        (on_b,) = [r for r in replicas if r["id"] == b_id]
        assert [w["worker_id"] for w in on_b["workers"]] == ["w-b"] and on_b["pid"] > 0
        assert (await login(client, API_KEY)).status_code in (200, 303)
        overview = await _overview(client)
        assert [(w["worker_id"], w["replica"]) for w in overview["workers"]] == [("w-b", b_id)]
        assert len(overview["replicas"]) == 2
        call.cancel()
        await eventually(lambda: _has(client, []), timeout=10)


async def _has(client: httpx.AsyncClient, want: list[tuple[str, str]]) -> bool:
    return await _workers(client) == want


async def test_bs_enqueues_reach_as_throughput(pair: tuple[Runtime, Runtime]) -> None:
    a, b = pair

    async def sampling() -> bool:  # B has rates (two samples): the jobs fall between two
        return bool(b.cluster.own().throughput)

    await eventually(sampling, timeout=10)
    await b.service.enqueue([spec("t", queue="q") for _ in range(50)])

    async def counted() -> bool:
        enqueued = sum(point[1] for point in await a.cluster.throughput())
        return 25 <= enqueued <= 75  # rates per second, added up: about the 50 jobs

    await eventually(counted, timeout=15)


async def test_a_silent_replica_is_gone_then_deleted(pair: tuple[Runtime, Runtime],
                                                     clean_db: str) -> None:
    a, b = pair
    b_id = b.cluster.identity.id
    async with asgi_client(a) as client:
        await eventually(lambda: _listed(client, b_id, True), timeout=10)
        with psycopg.connect(clean_db, autocommit=True) as conn:
            conn.execute("INSERT INTO quorra_replicas (id, host, pid, version, started_at, "
                         "heartbeat_at, workers) VALUES ('old', 'h', 1, '0.0.1', now(), "
                         "now() - interval '30 seconds', "
                         "'[{\"worker_id\": \"ghost\", \"queues\": [\"q\"]}]')")
        assert await _listed(client, "old", False)
        assert "ghost" not in {w for w, _ in await _workers(client)}
        with psycopg.connect(clean_db, autocommit=True) as conn:
            conn.execute("UPDATE quorra_replicas SET heartbeat_at = now() - interval '1 hour' "
                         "WHERE id = 'old'")
        await eventually(lambda: _gone(client, "old"), timeout=10)


async def _listed(client: httpx.AsyncClient, replica: str, live: bool) -> bool:
    replicas = (await client.get("/v1/replicas")).json()["replicas"]
    return any(r["id"] == replica and r["live"] is live for r in replicas)


async def _gone(client: httpx.AsyncClient, replica: str) -> bool:
    replicas = (await client.get("/v1/replicas")).json()["replicas"]
    return all(r["id"] != replica for r in replicas)


async def test_a_replica_that_stops_deletes_its_row(clean_db: str) -> None:
    async with running(settings_for(clean_db, replica_heartbeat=BEAT)) as a:
        async with running(settings_for(clean_db, replica_heartbeat=BEAT)) as b:
            b_id = b.cluster.identity.id
            async with asgi_client(a) as client:
                await eventually(lambda: _listed(client, b_id, True), timeout=10)
        async with asgi_client(a) as client:
            assert await _gone(client, b_id)
    with psycopg.connect(clean_db, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM quorra_replicas").fetchone() == (0,)
