"""The keys admin API, revocation across replicas, failed-authentication throttling (REST,
gRPC, dashboard login) and the optional key on /metrics and /readyz."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from quorra.bootstrap import Runtime, running
from quorra.core.keys import Role
from quorra.keys import REVOCATION_BOUND
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.integration.conftest import API_KEY, settings_for
from tests.integration.test_role_matrix import client, login


async def test_create_list_revoke(runtime: Runtime) -> None:
    async with client(runtime, API_KEY) as admin:
        made = await admin.post("/v1/keys", json={"name": "ci", "role": "producer",
                                                  "queues": ["orders*"]})
        assert made.status_code == 201
        body = made.json()
        secret = body["key"]
        assert secret.startswith(f"qk_{body['id']}_") and body["role"] == "producer"
        assert body["queues"] == ["orders*"] and body["revoked_at"] is None
        listed = (await admin.get("/v1/keys")).json()["keys"]
        assert [k["id"] for k in listed] == [body["id"]]
        assert "key" not in listed[0] and secret not in (await admin.get("/v1/keys")).text
        assert (await admin.post("/v1/keys", json={"name": "x", "role": "root"})).status_code == 400
        assert (await admin.post("/v1/keys", json={"name": "", "role": "worker"})
                ).status_code == 400
        assert (await admin.delete("/v1/keys/nope1234")).status_code == 404
    async with client(runtime, secret) as producer:
        assert (await producer.post("/v1/jobs", json={"type": "t", "queue": "orders"})
                ).status_code == 201
        assert (await producer.get("/v1/keys")).status_code == 403
    async with client(runtime, API_KEY) as admin:
        revoked = await admin.delete(f"/v1/keys/{body['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        assert (await admin.get("/v1/keys")).json()["keys"][0]["revoked_at"] is not None
    async with client(runtime, secret) as producer:
        assert (await producer.post("/v1/jobs", json={"type": "t", "queue": "orders"})
                ).status_code == 401
    stored = await runtime.keys.store.active()
    assert stored == []


@pytest.fixture
async def two_replicas(clean_db: str) -> AsyncIterator[tuple[Runtime, Runtime]]:
    async with running(settings_for(clean_db)) as a, running(settings_for(clean_db)) as b:
        yield a, b


async def _until(predicate: object, bound: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if await predicate():  # type: ignore[operator]
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {bound} s")


async def test_revocation_reaches_the_other_replica_within_the_bound(
        two_replicas: tuple[Runtime, Runtime]) -> None:
    a, b = two_replicas
    made = await a.keys.create("ops", Role.OPERATOR, [])

    async def accepted_by_b() -> bool:
        async with client(b, made.secret) as c:
            return (await c.get("/v1/queues")).status_code == 200

    await _until(accepted_by_b, REVOCATION_BOUND)
    async with client(b) as browser:  # a dashboard session on b, made with that key
        assert (await login(browser, made.secret)).status_code == 303
        assert (await browser.get("/dashboard/api/overview")).status_code == 200
        await a.keys.revoke(made.key.id)

        async def refused_by_b() -> bool:
            async with client(b, made.secret) as c:
                return (await c.get("/v1/queues")).status_code == 401

        took = await _until(refused_by_b, REVOCATION_BOUND)
        assert took < REVOCATION_BOUND
        assert (await browser.get("/dashboard/api/overview")).status_code == 401
    async with grpc.aio.insecure_channel(f"127.0.0.1:{b.rpc.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pb_grpc.WorkerServiceStub(channel).GetJob(
                pb.GetJobRequest(id="x"), metadata=(("x-api-key", made.secret),))
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture
async def strict(clean_db: str) -> AsyncIterator[Runtime]:
    async with running(settings_for(clean_db, auth_failure_limit=3, auth_failure_window=1.0,
                                    protect_metrics=True)) as rt:
        yield rt


async def test_rest_throttles_failures_then_recovers(strict: Runtime) -> None:
    async with client(strict, "wrong-key-0123456789") as bad, client(strict, API_KEY) as good:
        codes = [(await bad.get("/v1/queues")).status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        throttled = await bad.get("/v1/queues")
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
        assert "error" in throttled.json()
        assert (await good.get("/v1/queues")).status_code == 200  # success is never throttled
        await asyncio.sleep(1.1)
        assert (await bad.get("/v1/queues")).status_code == 401  # recovered
        metrics = (await good.get("/metrics")).text
        assert 'quorra_auth_failures_total{door="rest",reason="throttled"} 1.0' in metrics
        assert "wrong-key" not in metrics


async def test_grpc_throttles_failures_then_recovers(strict: Runtime) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{strict.rpc.port}") as channel:
        stub = pb_grpc.WorkerServiceStub(channel)

        async def code(key: str) -> tuple[grpc.StatusCode, str | None]:
            try:
                await stub.GetJob(pb.GetJobRequest(id="x"), metadata=(("x-api-key", key),))
            except grpc.aio.AioRpcError as exc:
                trailers = dict(exc.trailing_metadata() or ())
                return exc.code(), trailers.get("retry-after")
            return grpc.StatusCode.OK, None

        for _ in range(3):
            assert (await code("bad"))[0] is grpc.StatusCode.UNAUTHENTICATED
        status, retry_after = await code("bad")
        assert status is grpc.StatusCode.RESOURCE_EXHAUSTED and retry_after is not None
        assert (await code(API_KEY))[0] is grpc.StatusCode.INVALID_ARGUMENT  # allowed: bad id
        await asyncio.sleep(1.1)
        assert (await code("bad"))[0] is grpc.StatusCode.UNAUTHENTICATED


async def test_dashboard_login_throttles(strict: Runtime) -> None:
    async with client(strict) as browser:
        codes = [(await login(browser, "wrong-key-0123456789")).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        answer = await login(browser, "wrong-key-0123456789")
        assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1
        assert (await login(browser, API_KEY)).status_code == 303


async def test_metrics_and_readiness_details_behind_a_key(strict: Runtime) -> None:
    producer = (await strict.keys.create("p", Role.PRODUCER, [])).secret
    operator = (await strict.keys.create("o", Role.OPERATOR, [])).secret
    async with client(strict) as anonymous:
        assert (await anonymous.get("/metrics")).status_code == 401
        ready = await anonymous.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True}
        assert (await anonymous.get("/healthz")).status_code == 200
    async with client(strict, producer) as c:
        assert (await c.get("/metrics")).status_code == 403
        assert (await c.get("/readyz")).status_code == 403
    async with client(strict, operator) as c:
        assert (await c.get("/metrics")).status_code == 200
        assert (await c.get("/readyz")).json()["postgres"] == "ok"


async def test_metrics_stay_open_by_default(runtime: Runtime) -> None:
    async with client(runtime) as anonymous:
        assert (await anonymous.get("/metrics")).status_code == 200
        assert "postgres" in (await anonymous.get("/readyz")).json()


async def test_sessions_of_other_keys_survive(runtime: Runtime) -> None:
    made = await runtime.keys.create("ops", Role.OPERATOR, [])
    other = await runtime.keys.create("ops2", Role.OPERATOR, [])
    async with client(runtime) as browser:
        assert (await login(browser, made.secret)).status_code == 303
        await runtime.keys.revoke(other.key.id)
        assert (await browser.get("/dashboard/api/overview")).status_code == 200
        httpx_cookie = browser.cookies.get("quorra_session")
        assert httpx_cookie and made.secret not in httpx_cookie
