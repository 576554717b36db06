"""Bearer JWTs on a running replica whose keys come from a JWKS served by a local HTTP server:
accepted on REST, gRPC and the dashboard login; refused (expired, wrong audience or issuer,
unknown signer) as 401 / UNAUTHENTICATED, counted as ``invalid_token`` and throttled like bad
keys; queue claims limit like a key's patterns; a dashboard session ends with its token."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from quorra.bootstrap import Runtime, running
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.asgi import asgi_transport
from tests.contract.conftest import spec
from tests.integration.conftest import API_KEY, settings_for
from tests.integration.test_role_matrix import client, login
from tests.jwt_support import Jwks, Signer, serve_jwks

SIGNER = Signer(kid="idp-1")


@pytest.fixture
async def jwks() -> AsyncIterator[Jwks]:
    with serve_jwks(SIGNER) as served:
        yield served


@pytest.fixture
async def replica(clean_db: str, jwks: Jwks) -> AsyncIterator[Runtime]:
    settings = settings_for(clean_db, auth_failure_limit=3, auth_failure_window=1.0,
                            jwt=jwks.settings(leeway=0.0))
    async with running(settings) as rt:
        yield rt


def bearer(rt: Runtime, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=asgi_transport(rt.app),
                             base_url="http://testserver",
                             headers={"Authorization": f"Bearer {token}"})


async def metrics_text(rt: Runtime) -> str:
    async with client(rt, API_KEY) as c:
        return (await c.get("/metrics")).text


async def test_rest_accepts_a_valid_token_and_refuses_bad_ones(replica: Runtime,
                                                               jwks: Jwks) -> None:
    async with bearer(replica, SIGNER.token(role="producer")) as c:
        made = await c.post("/v1/jobs", json={"type": "t", "queue": "q"})
        assert made.status_code == 201
        assert (await c.get(f"/v1/jobs/{made.json()['id']}")).status_code == 200
        assert (await c.get("/v1/keys")).status_code == 403  # a producer's role
    assert jwks.fetches == 1
    refused = [SIGNER.token(ttl=-5), SIGNER.token(aud="other"), SIGNER.token(iss="https://x/"),
               Signer(kid="idp-1").token()]
    for n, token in enumerate(refused):
        async with bearer(replica, token) as c:
            answer = await c.get("/v1/queues")
        assert answer.status_code == (401 if n < 3 else 429), n  # the limit is 3
        assert "error" in answer.json()
    text = await metrics_text(replica)
    assert 'quorra_auth_failures_total{door="rest",reason="invalid_token"} 3.0' in text
    assert 'quorra_auth_failures_total{door="rest",reason="throttled"} 1.0' in text
    assert "eyJ" not in text
    async with bearer(replica, SIGNER.token(role="admin")) as c:  # success is never throttled
        assert (await c.get("/v1/queues")).status_code == 200


async def test_queue_claims_limit_a_token(replica: Runtime) -> None:
    token = SIGNER.token(role="producer", queues=["orders*"])
    async with bearer(replica, token) as c:
        assert (await c.post("/v1/jobs", json={"type": "t", "queue": "orders.eu"})).status_code \
            == 201
        denied = await c.post("/v1/jobs", json={"type": "t", "queue": "billing"})
        assert denied.status_code == 403 and "billing" in denied.json()["error"]


async def test_grpc_bearer_tokens(replica: Runtime) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{replica.rpc.port}") as channel:
        stub = pb_grpc.WorkerServiceStub(channel)

        async def code(token: str) -> grpc.StatusCode:
            try:
                await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[pb.JobSpec(type="t",
                                                                              queue="q")]),
                                       metadata=(("authorization", f"Bearer {token}"),))
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

        assert await code(SIGNER.token(role="producer")) is grpc.StatusCode.OK
        assert await code(SIGNER.token(role="worker")) is grpc.StatusCode.PERMISSION_DENIED
        for _ in range(3):
            assert await code(SIGNER.token(ttl=-5)) is grpc.StatusCode.UNAUTHENTICATED
        assert await code(SIGNER.token(aud="x")) is grpc.StatusCode.RESOURCE_EXHAUSTED
    text = await metrics_text(replica)
    assert 'quorra_auth_failures_total{door="grpc",reason="invalid_token"} 3.0' in text


async def test_dashboard_login_with_a_token_ends_with_it(replica: Runtime) -> None:
    async with client(replica) as c:
        assert (await login(c, SIGNER.token(role="producer"))).status_code == 403
        assert (await login(c, SIGNER.token(role="operator", ttl=-5))).status_code == 401
    async with client(replica) as c:
        expires = time.time() + 3
        answer = await login(c, SIGNER.token(role="operator", ttl=3))
        assert answer.status_code == 303
        assert (await c.get("/dashboard/api/overview")).status_code == 200
        deadline = time.monotonic() + 10
        while (await c.get("/dashboard/api/overview")).status_code == 200:
            assert time.monotonic() < deadline, "the session outlived its token"
            await asyncio.sleep(0.2)
        assert time.time() >= expires - 1


async def test_a_tenant_claim_scopes_a_token(replica: Runtime) -> None:
    (other,) = await replica.service.enqueue([spec("t", queue="globex~m")])
    async with bearer(replica, SIGNER.token(role="operator", tenant="acme")) as c:
        assert (await c.get(f"/v1/jobs/{other.id}")).status_code == 404
        assert (await c.get("/v1/queues")).json()["queues"] == []
    async with bearer(replica, SIGNER.token(role="producer", tenant="acme")) as c:
        made = await c.post("/v1/jobs", json={"type": "t", "queue": "m"})
    assert (await replica.service.get(uuid.UUID(made.json()["id"]))).queue == "acme~m"
