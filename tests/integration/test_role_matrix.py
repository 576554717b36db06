"""Every REST route, dashboard API route and RPC of the permission table, called with a key of
each role, and again with a bearer JWT of each role: allowed (anything but 401/403/429) or
denied (403 / PERMISSION_DENIED), as the table says. Plus queue patterns: a limited key is denied
the queues outside them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from quorra.bootstrap import Runtime, running
from quorra.core.keys import ROLE_PERMISSIONS, Role, auth_metadata
from quorra.core.permissions import DASHBOARD_ROUTES, REST_ROUTES, RPC_METHODS, Rule
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.asgi import asgi_transport
from tests.integration.conftest import settings_for
from tests.jwt_support import Signer

MISSING = str(uuid.uuid4())
SCHEDULE = {"cron": "0 3 * * *", "job": {"type": "nightly", "queue": "m"}}

# A concrete request for every row of the table: (path, JSON body or None, query or None).
REST_SAMPLES: dict[tuple[str, str], tuple[str, Any, dict[str, str] | None]] = {
    ("POST", "/v1/jobs"): ("/v1/jobs", {"type": "t", "queue": "m"}, None),
    ("POST", "/v1/jobs/batch"): ("/v1/jobs/batch", {"jobs": [{"type": "t", "queue": "m"}]},
                                 None),
    ("GET", "/v1/jobs/{job_id:str}"): (f"/v1/jobs/{MISSING}", None, None),
    ("GET", "/v1/jobs"): ("/v1/jobs", None, {"queue": "m"}),
    ("POST", "/v1/jobs/{job_id:str}/retry"): (f"/v1/jobs/{MISSING}/retry", None, None),
    ("POST", "/v1/jobs/{job_id:str}/cancel"): (f"/v1/jobs/{MISSING}/cancel", None, None),
    ("DELETE", "/v1/jobs/{job_id:str}"): (f"/v1/jobs/{MISSING}", None, None),
    ("POST", "/v1/jobs/cancel"): ("/v1/jobs/cancel", {"queue": "m"}, None),
    ("GET", "/v1/queues"): ("/v1/queues", None, None),
    ("GET", "/v1/recent"): ("/v1/recent", None, None),
    ("GET", "/v1/workers"): ("/v1/workers", None, None),
    ("GET", "/v1/replicas"): ("/v1/replicas", None, None),
    ("POST", "/v1/queues/{queue:str}/retry-dead"): ("/v1/queues/m/retry-dead", None, None),
    ("POST", "/v1/queues/{queue:str}/pause"): ("/v1/queues/m/pause", None, None),
    ("POST", "/v1/queues/{queue:str}/resume"): ("/v1/queues/m/resume", None, None),
    ("PUT", "/v1/queues/{queue:str}/limits"): ("/v1/queues/m/limits", {"max_concurrency": 2},
                                               None),
    ("GET", "/v1/queues/{queue:str}/limits"): ("/v1/queues/m/limits", None, None),
    ("DELETE", "/v1/queues/{queue:str}/limits"): ("/v1/queues/m/limits", None, None),
    ("POST", "/v1/schedules"): ("/v1/schedules", {**SCHEDULE, "name": "made"}, None),
    ("PUT", "/v1/schedules/{name:str}"): ("/v1/schedules/put", SCHEDULE, None),
    ("GET", "/v1/schedules"): ("/v1/schedules", None, None),
    ("GET", "/v1/schedules/{name:str}"): ("/v1/schedules/none", None, None),
    ("DELETE", "/v1/schedules/{name:str}"): ("/v1/schedules/none", None, None),
    ("POST", "/v1/schedules/{name:str}/pause"): ("/v1/schedules/none/pause", None, None),
    ("POST", "/v1/schedules/{name:str}/resume"): ("/v1/schedules/none/resume", None, None),
    ("POST", "/v1/keys"): ("/v1/keys", {"name": "made", "role": "worker"}, None),
    ("GET", "/v1/keys"): ("/v1/keys", None, None),
    ("DELETE", "/v1/keys/{key_id:str}"): ("/v1/keys/zzzzzzzz", None, None),
    ("POST", "/v1/webhooks"): ("/v1/webhooks", {"url": "https://hooks.example.com/",
                                                "events": ["job.dead"]}, None),
    ("GET", "/v1/webhooks"): ("/v1/webhooks", None, None),
    ("GET", "/v1/webhooks/{webhook_id:str}"): ("/v1/webhooks/wh_none", None, None),
    ("PATCH", "/v1/webhooks/{webhook_id:str}"): ("/v1/webhooks/wh_none", {"enabled": False},
                                                 None),
    ("DELETE", "/v1/webhooks/{webhook_id:str}"): ("/v1/webhooks/wh_none", None, None),
    ("GET", "/v1/webhooks/{webhook_id:str}/deliveries"): ("/v1/webhooks/wh_none/deliveries",
                                                          None, None),
}

DASHBOARD_SAMPLES: dict[tuple[str, str], str] = {
    (method, path): path.replace("{job_id:str}", MISSING).replace("{queue:str}", "m").replace(
        "{name:str}", "none") for method, path in DASHBOARD_ROUTES}

ROLES = list(Role)


def allowed(role: Role, rule: Rule) -> bool:
    return rule.permission in ROLE_PERMISSIONS[role]


@pytest.fixture
async def keyed(clean_db: str) -> AsyncIterator[tuple[Runtime, dict[Role, str]]]:
    async with running(settings_for(clean_db, auth_failure_limit=1000)) as rt:
        keys = {role: (await rt.keys.create(f"matrix {role}", role, [])).secret
                for role in Role}
        yield rt, keys


@pytest.fixture(params=["api_key", "jwt"])
async def matrix(request: pytest.FixtureRequest,
                 clean_db: str) -> AsyncIterator[tuple[Runtime, dict[Role, str]]]:
    """A credential of each role: a stored API key, or a bearer JWT (``Authorization``)."""
    signer = Signer()
    settings = settings_for(clean_db, auth_failure_limit=1000, jwt=signer.static_settings())
    async with running(settings) as rt:
        if request.param == "jwt":
            yield rt, {role: signer.token(role=role.value, sub=f"m-{role}") for role in Role}
        else:
            yield rt, {role: (await rt.keys.create(f"matrix {role}", role, [])).secret
                       for role in Role}


def client(rt: Runtime, key: str | None = None) -> httpx.AsyncClient:
    headers = dict(auth_metadata(key)) if key else {}
    return httpx.AsyncClient(transport=asgi_transport(rt.app),
                             base_url="http://testserver", headers=headers)


def test_every_route_and_rpc_has_a_sample() -> None:
    assert set(REST_SAMPLES) == set(REST_ROUTES)
    assert set(DASHBOARD_SAMPLES) == set(DASHBOARD_ROUTES)


async def test_rest_routes_by_role(matrix: tuple[Runtime, dict[Role, str]]) -> None:
    rt, keys = matrix
    seen = []
    for (method, template), rule in REST_ROUTES.items():
        path, body, query = REST_SAMPLES[(method, template)]
        for role in ROLES:
            async with client(rt, keys[role]) as c:
                answer = await c.request(method, path, json=body, params=query)
            verdict = (method, template, role.value, answer.status_code)
            seen.append(verdict)
            if allowed(role, rule):
                assert answer.status_code not in (401, 403, 429), (verdict, answer.text)
                assert answer.status_code < 500, (verdict, answer.text)
            else:
                assert answer.status_code == 403, (verdict, answer.text)
                assert "error" in answer.json()
        async with client(rt) as c:  # no key at all
            assert (await c.request(method, path, json=body, params=query)).status_code == 401
    assert len(seen) == len(REST_ROUTES) * len(ROLES)


async def login(c: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await c.get("/dashboard/login")
    nonce = form.cookies.get("quorra_login") or c.cookies.get("quorra_login")
    return await c.post("/dashboard/login", data={"nonce": nonce, "api_key": key})


def csrf_of(page: str) -> str:
    marker = 'name="csrf-token" content="'
    return page.split(marker, 1)[1].split('"', 1)[0]


async def test_dashboard_by_role(matrix: tuple[Runtime, dict[Role, str]]) -> None:
    rt, keys = matrix
    for role in ROLES:
        async with client(rt) as c:
            answer = await login(c, keys[role])
            may_log_in = role in (Role.OPERATOR, Role.ADMIN)
            assert answer.status_code == (303 if may_log_in else 403), role
            if not may_log_in:
                continue
            csrf = csrf_of((await c.get("/dashboard")).text)
            for (method, template), rule in DASHBOARD_ROUTES.items():
                path = DASHBOARD_SAMPLES[(method, template)]
                reply = await c.request(method, path, headers={"x-csrf-token": csrf})
                verdict = (method, template, role.value, reply.status_code, reply.text)
                if allowed(role, rule):
                    assert reply.status_code not in (401, 403, 429), verdict
                    assert reply.status_code < 500, verdict
                else:
                    assert reply.status_code == 403, verdict


def rpc_calls(stub: pb_grpc.WorkerServiceAsyncStub, key: str) -> dict[str, Any]:
    meta = auth_metadata(key)

    async def lease() -> Any:
        return [job async for job in stub.LeaseJobs(
            pb.LeaseRequest(worker_id="w", queue="m", max_jobs=1), metadata=meta)]

    async def session() -> Any:
        call = stub.Session(metadata=meta)
        await call.write(pb.SessionRequest(open=pb.SessionOpen(worker_id="w", queues=["m"])))
        await call.done_writing()
        return [response async for response in call]

    ack = pb.JobAck(job_id=MISSING, lease_id=MISSING, worker_id="w", success=True)
    return {
        "LeaseJobs": lease,
        "Session": session,
        "AckJob": lambda: stub.AckJob(ack, metadata=meta),
        "NackJob": lambda: stub.NackJob(ack, metadata=meta),
        "ExtendLease": lambda: stub.ExtendLease(
            pb.ExtendRequest(job_id=MISSING, lease_id=MISSING, worker_id="w"), metadata=meta),
        "EnqueueJobs": lambda: stub.EnqueueJobs(pb.EnqueueJobsRequest(
            jobs=[pb.JobSpec(type="t", queue="m")]), metadata=meta),
        "GetJob": lambda: stub.GetJob(pb.GetJobRequest(id=MISSING), metadata=meta),
        "CancelJob": lambda: stub.CancelJob(pb.CancelJobRequest(id=MISSING), metadata=meta),
    }


async def rpc_code(call: Any) -> grpc.StatusCode:
    try:
        await asyncio.wait_for(call(), 10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_rpcs_by_role(matrix: tuple[Runtime, dict[Role, str]]) -> None:
    rt, keys = matrix
    async with grpc.aio.insecure_channel(f"127.0.0.1:{rt.rpc.port}") as channel:
        stub = pb_grpc.WorkerServiceStub(channel)
        for method, rule in RPC_METHODS.items():
            name = method.rsplit("/", 1)[1]
            for role in ROLES:
                code = await rpc_code(rpc_calls(stub, keys[role])[name])
                verdict = (name, role.value, code)
                if allowed(role, rule):
                    assert code not in (grpc.StatusCode.UNAUTHENTICATED,
                                        grpc.StatusCode.PERMISSION_DENIED,
                                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                                        grpc.StatusCode.INTERNAL), verdict
                else:
                    assert code is grpc.StatusCode.PERMISSION_DENIED, verdict
            code = await rpc_code(rpc_calls(stub, "qk_nothing1_" + "x" * 40)[name])
            assert code is grpc.StatusCode.UNAUTHENTICATED, name


async def test_queue_patterns_limit_producers(keyed: tuple[Runtime, dict[Role, str]]) -> None:
    rt, _ = keyed
    producer = (await rt.keys.create("orders producer", Role.PRODUCER, ["orders*"])).secret
    async with client(rt, producer) as c:
        made = await c.post("/v1/jobs", json={"type": "t", "queue": "orders.eu"})
        assert made.status_code == 201
        denied = await c.post("/v1/jobs", json={"type": "t", "queue": "billing"})
        assert denied.status_code == 403 and "billing" in denied.json()["error"]
        batch = await c.post("/v1/jobs/batch", json={"jobs": [
            {"type": "t", "queue": "orders"}, {"type": "t", "queue": "billing"}]})
        assert batch.status_code == 403
        assert (await c.get(f"/v1/jobs/{made.json()['id']}")).status_code == 200
        assert (await c.get("/v1/jobs", params={"queue": "orders.eu"})).status_code == 200
        assert (await c.get("/v1/jobs")).status_code == 403  # must name its queue
        assert (await c.get("/v1/jobs", params={"queue": "billing"})).status_code == 403
    (other,) = await rt.service.enqueue([_spec("billing")])
    async with client(rt, producer) as c:
        assert (await c.get(f"/v1/jobs/{other.id}")).status_code == 403
    operator = (await rt.keys.create("orders operator", Role.OPERATOR, ["orders"])).secret
    async with client(rt, operator) as c:
        assert (await c.post(f"/v1/jobs/{other.id}/cancel")).status_code == 403
        assert (await c.post("/v1/queues/billing/retry-dead")).status_code == 403
        assert (await c.post("/v1/queues/orders/retry-dead")).status_code == 200
        assert (await c.get("/v1/queues")).status_code == 403  # every queue: not this key
    async with grpc.aio.insecure_channel(f"127.0.0.1:{rt.rpc.port}") as channel:
        stub = pb_grpc.WorkerServiceStub(channel)
        meta = (("x-api-key", producer),)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.EnqueueJobs(pb.EnqueueJobsRequest(
                jobs=[pb.JobSpec(type="t", queue="billing")]), metadata=meta)
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetJob(pb.GetJobRequest(id=str(other.id)), metadata=meta)
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
        done = await stub.EnqueueJobs(pb.EnqueueJobsRequest(
            jobs=[pb.JobSpec(type="t", queue="orders")]), metadata=meta)
        assert len(done.jobs) == 1


async def test_queue_patterns_limit_workers(keyed: tuple[Runtime, dict[Role, str]]) -> None:
    rt, _ = keyed
    worker = (await rt.keys.create("mail worker", Role.WORKER, ["mail"])).secret
    await rt.service.enqueue([_spec("mail")])
    meta = (("x-api-key", worker),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{rt.rpc.port}") as channel:
        stub = pb_grpc.WorkerServiceStub(channel)
        jobs = [job async for job in stub.LeaseJobs(
            pb.LeaseRequest(worker_id="w", queue="mail", max_jobs=5), metadata=meta)]
        assert len(jobs) == 1
        acked = await stub.AckJob(pb.JobAck(job_id=jobs[0].id, lease_id=jobs[0].lease_id,
                                            worker_id="w", success=True), metadata=meta)
        assert acked.status == "succeeded"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            _ = [job async for job in stub.LeaseJobs(
                pb.LeaseRequest(worker_id="w", queues=["mail", "billing"]), metadata=meta)]
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
        call = stub.Session(metadata=meta)
        await call.write(pb.SessionRequest(open=pb.SessionOpen(worker_id="w",
                                                                queues=["billing"])))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await asyncio.wait_for(call.read(), 10)
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED


def _spec(queue: str) -> Any:
    from tests.contract.conftest import spec

    return spec("t", queue=queue)
