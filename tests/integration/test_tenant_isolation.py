"""Tenants never see, count, lease, retry, cancel or delete each other's jobs: every REST route,
RPC and dashboard route of the permission table is called by tenant ``acme`` (admin role, so
only tenancy can stop it) against tenant ``globex``'s jobs, queue, limits and worker, in
Postgres-only and Redis dispatch modes. ``CHECKS`` must name every route of the table."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import httpx
import pytest

from quorra.bootstrap import Runtime, running
from quorra.core.errors import PermissionDenied
from quorra.core.jobs import JobStatus
from quorra.core.keys import Principal, Role, auth_metadata
from quorra.core.limits import QueueLimits
from quorra.core.permissions import (
    DASHBOARD_ROUTES,
    OPEN_ROUTES,
    REST_ROUTES,
    RPC_METHODS,
    authorize,
)
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.asgi import asgi_transport
from tests.contract.conftest import spec
from tests.integration.conftest import settings_for
from tests.integration.test_role_matrix import login
from tests.rpc_reads import next_message
from tests.support import REDIS_URL, flush_test_redis

_JOB = "/v1/jobs/{job_id:str}"
_QUEUE = "/v1/queues/{queue:str}"
_SCHEDULE = "/v1/schedules/{name:str}"
_WEBHOOK = "/v1/webhooks/{webhook_id:str}"


@dataclasses.dataclass
class World:
    rt: Runtime
    acme: str  # admin-role key of tenant acme
    acme_worker: str
    globex_worker: str
    g_pending: uuid.UUID  # globex's jobs, queue "m" (stored globex~m)
    g_dead: uuid.UUID
    a_pending: uuid.UUID  # acme's, queue "m" (stored acme~m)

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = dict(auth_metadata(key or self.acme))
        return httpx.AsyncClient(transport=asgi_transport(self.rt.app),
                                 base_url="http://testserver", headers=headers)

    async def status(self, job_id: uuid.UUID) -> JobStatus:
        return (await self.rt.service.get(job_id)).status

    async def acme_ids(self) -> set[str]:
        async with self.client() as c:
            page = (await c.get("/v1/jobs", params={"limit": 1000})).json()
        return {job["id"] for job in page["jobs"]}

    async def globex_untouched(self) -> None:
        service = self.rt.service
        assert await self.status(self.g_pending) is JobStatus.PENDING
        assert await self.status(self.g_dead) is JobStatus.DEAD
        assert (await service.get_limits("globex~m")).max_concurrency == 5
        assert "globex~m" not in await service.paused_queues()


async def _dead(rt: Runtime, queue: str) -> uuid.UUID:
    (made,) = await rt.service.enqueue([spec("t", queue=queue, max_retries=0)])
    (job,) = await rt.service.lease([queue], worker_id="w", limit=1)
    assert job.lease_id is not None
    await rt.service.nack(job.id, job.lease_id, "boom")
    return made.id


@pytest.fixture(params=["postgres", "redis"])
async def world(request: pytest.FixtureRequest, clean_db: str) -> AsyncIterator[World]:
    extra: dict[str, Any] = {}
    if request.param == "redis":
        await flush_test_redis()
        extra["redis_url"] = REDIS_URL
    async with running(settings_for(clean_db, auth_failure_limit=1000, **extra)) as rt:
        assert rt.mode == request.param
        keys = rt.keys
        g_dead = await _dead(rt, "globex~m")
        (g_pending,) = await rt.service.enqueue([spec("t", queue="globex~m")])
        (a_pending,) = await rt.service.enqueue([spec("t", queue="acme~m")])
        await rt.service.set_limits("globex~m", QueueLimits(max_concurrency=5))
        rt.workers.connect("sa", "acme-w", ["acme~m"])
        rt.workers.connect("sg", "globex-w", ["globex~m"])
        yield World(
            rt, (await keys.create("acme admin", Role.ADMIN, [], "acme")).secret,
            (await keys.create("acme worker", Role.WORKER, [], "acme")).secret,
            (await keys.create("globex worker", Role.WORKER, [], "globex")).secret,
            g_pending.id, g_dead, a_pending.id)


# ---- REST: one check per route of the table ----

async def enqueue_one(w: World) -> None:
    async with w.client() as c:
        made = await c.post("/v1/jobs", json={"type": "t", "queue": "m"})
        assert made.status_code == 201
        assert (await w.rt.service.get(uuid.UUID(made.json()["id"]))).queue == "acme~m"
        assert (await c.get(f"/v1/jobs/{made.json()['id']}")).json()["queue"] == "m"
        sneaky = await c.post("/v1/jobs", json={"type": "t", "queue": "globex~m"})
        assert sneaky.status_code == 400 and sneaky.json()["field"] == "queue"
        taken = await c.post("/v1/jobs", json={"type": "t", "id": str(w.g_pending)})
        assert taken.status_code == 400  # another tenant's id: neither answered nor stored
        child = await c.post("/v1/jobs", json={"type": "t", "depends_on": [str(w.g_pending)]})
        assert child.status_code == 400 and child.json()["field"] == "depends_on"


async def enqueue_batch(w: World) -> None:
    async with w.client() as c:
        made = await c.post("/v1/jobs/batch", json={"jobs": [{"type": "t", "queue": "b"}]})
        assert made.status_code == 201
        assert (await w.rt.service.get(uuid.UUID(made.json()["jobs"][0]["id"]))).queue == \
            "acme~b"


def refused_by_id(method: str, suffix: str = "", job: str = "g_pending") -> Callable[
        [World], Awaitable[None]]:
    async def check(w: World) -> None:
        async with w.client() as c:
            answer = await c.request(method, f"/v1/jobs/{getattr(w, job)}{suffix}")
        assert answer.status_code == 404, answer.text
    return check


async def get_own_job(w: World) -> None:
    await refused_by_id("GET")(w)
    async with w.client() as c:
        mine = await c.get(f"/v1/jobs/{w.a_pending}")
        assert mine.status_code == 200 and mine.json()["queue"] == "m"


async def list_jobs(w: World) -> None:
    async with w.client() as c:
        for query in ({}, {"queue": "m"}, {"status": "dead"}):
            jobs = (await c.get("/v1/jobs", params=query)).json()["jobs"]
            assert str(w.g_pending) not in {j["id"] for j in jobs}
            assert all("~" not in j["queue"] for j in jobs)
        assert str(w.a_pending) in await w.acme_ids()
        assert (await c.get("/v1/jobs", params={"status": "dead"})).json()["jobs"] == []


async def cancel_many(w: World) -> None:
    async with w.client() as c:
        assert (await c.post("/v1/jobs/cancel", json={"type": "t"})).status_code == 400
        done = await c.post("/v1/jobs/cancel", json={"queue": "nothing-here"})
        assert done.json() == {"cancelled": 0}


async def queue_counts(w: World) -> None:
    async with w.client() as c:
        body = (await c.get("/v1/queues")).json()
    assert {q["queue"] for q in body["queues"]} <= {"m", "b"}
    assert sum(q["count"] for q in body["queues"]) == len(await w.acme_ids())
    assert body["paused"] == [] and "m" not in body["limits"]


async def recent(w: World) -> None:
    async with w.client() as c:
        jobs = (await c.get("/v1/recent")).json()["jobs"]
    assert jobs and {j["id"] for j in jobs} <= await w.acme_ids()


async def workers(w: World) -> None:
    await w.rt.cluster.heartbeat()  # recorded for the other replicas too: still acme's only
    async with w.client() as c:
        listed = (await c.get("/v1/workers")).json()["workers"]
    assert [(x["worker_id"], x["queues"]) for x in listed] == [("acme-w", ["m"])]


async def retry_dead(w: World) -> None:
    async with w.client() as c:
        assert (await c.post("/v1/queues/m/retry-dead")).json() == {"retried": 0}


async def pause_and_resume(w: World) -> None:
    async with w.client() as c:
        paused = await c.post("/v1/queues/m/pause")
        assert paused.json() == {"queue": "m", "paused": True}
        assert "acme~m" in await w.rt.service.paused_queues()
        assert (await c.get("/v1/queues")).json()["paused"] == ["m"]
        assert (await c.post("/v1/queues/m/resume")).status_code == 200


async def limits(w: World) -> None:
    async with w.client() as c:
        assert (await c.get("/v1/queues/m/limits")).json()["max_concurrency"] is None
        put = await c.put("/v1/queues/m/limits", json={"max_concurrency": 2})
        assert put.json()["queue"] == "m"
        assert (await w.rt.service.get_limits("acme~m")).max_concurrency == 2
        assert (await c.get("/v1/queues")).json()["limits"]["m"]["max_concurrency"] == 2
        assert (await c.delete("/v1/queues/m/limits")).status_code == 200


def refused(method: str, path: str, body: Any = None) -> Callable[[World], Awaitable[None]]:
    async def check(w: World) -> None:
        async with w.client() as c:
            answer = await c.request(method, path, json=body)
        assert answer.status_code == 403 and "tenant" in answer.json()["error"], answer.text
    return check


_SCHED = {"name": "n", "cron": "0 3 * * *", "job": {"type": "t"}}
REST_CHECKS: dict[tuple[str, str], Callable[[World], Awaitable[None]]] = {
    ("POST", "/v1/jobs"): enqueue_one,
    ("POST", "/v1/jobs/batch"): enqueue_batch,
    ("GET", _JOB): get_own_job,
    ("GET", "/v1/jobs"): list_jobs,
    ("POST", f"{_JOB}/retry"): refused_by_id("POST", "/retry", "g_dead"),
    ("POST", f"{_JOB}/cancel"): refused_by_id("POST", "/cancel"),
    ("DELETE", _JOB): refused_by_id("DELETE"),
    ("POST", "/v1/jobs/cancel"): cancel_many,
    ("GET", "/v1/queues"): queue_counts,
    ("GET", "/v1/recent"): recent,
    ("GET", "/v1/workers"): workers,
    ("GET", "/v1/replicas"): refused("GET", "/v1/replicas"),
    ("POST", f"{_QUEUE}/retry-dead"): retry_dead,
    ("POST", f"{_QUEUE}/pause"): pause_and_resume,
    ("POST", f"{_QUEUE}/resume"): pause_and_resume,
    ("PUT", f"{_QUEUE}/limits"): limits,
    ("GET", f"{_QUEUE}/limits"): limits,
    ("DELETE", f"{_QUEUE}/limits"): limits,
    ("POST", "/v1/schedules"): refused("POST", "/v1/schedules", _SCHED),
    ("PUT", _SCHEDULE): refused("PUT", "/v1/schedules/n", _SCHED),
    ("GET", "/v1/schedules"): refused("GET", "/v1/schedules"),
    ("GET", _SCHEDULE): refused("GET", "/v1/schedules/n"),
    ("DELETE", _SCHEDULE): refused("DELETE", "/v1/schedules/n"),
    ("POST", f"{_SCHEDULE}/pause"): refused("POST", "/v1/schedules/n/pause"),
    ("POST", f"{_SCHEDULE}/resume"): refused("POST", "/v1/schedules/n/resume"),
    ("POST", "/v1/keys"): refused("POST", "/v1/keys", {"name": "x", "role": "admin"}),
    ("GET", "/v1/keys"): refused("GET", "/v1/keys"),
    ("DELETE", "/v1/keys/{key_id:str}"): refused("DELETE", "/v1/keys/zzzzzzzz"),
    ("POST", "/v1/webhooks"): refused("POST", "/v1/webhooks", {"url": "https://x.test/h"}),
    ("GET", "/v1/webhooks"): refused("GET", "/v1/webhooks"),
    ("GET", _WEBHOOK): refused("GET", f"/v1/webhooks/{uuid.uuid4()}"),
    ("PATCH", _WEBHOOK): refused("PATCH", f"/v1/webhooks/{uuid.uuid4()}", {}),
    ("DELETE", _WEBHOOK): refused("DELETE", f"/v1/webhooks/{uuid.uuid4()}"),
    ("GET", f"{_WEBHOOK}/deliveries"): refused("GET", f"/v1/webhooks/{uuid.uuid4()}/deliveries"),
}


# ---- gRPC: one check per method ----

def code_of(exc: BaseException) -> grpc.StatusCode:
    assert isinstance(exc, grpc.aio.AioRpcError), exc
    return exc.code()


async def rpc_lease(w: World, stub: pb_grpc.WorkerServiceAsyncStub) -> None:
    (fresh,) = await w.rt.service.enqueue([spec("t", queue="acme~m")])
    meta = auth_metadata(w.acme_worker)
    jobs = [j async for j in stub.LeaseJobs(pb.LeaseRequest(worker_id="a", queue="m",
                                                            max_jobs=50), metadata=meta)]
    assert jobs and {j.queue for j in jobs} == {"m"}
    assert str(w.g_pending) not in {j.id for j in jobs} and str(fresh.id) in {j.id for j in jobs}
    for job in jobs:
        await stub.AckJob(pb.JobAck(job_id=job.id, lease_id=job.lease_id, worker_id="a",
                                    success=True), metadata=meta)


async def rpc_session(w: World, stub: pb_grpc.WorkerServiceAsyncStub) -> None:
    (fresh,) = await w.rt.service.enqueue([spec("t", queue="acme~s")])
    call = stub.Session(metadata=auth_metadata(w.acme_worker))
    await call.write(pb.SessionRequest(open=pb.SessionOpen(worker_id="a", queues=["s"]),
                                       credit=10))
    response = await next_message(call, pb.SessionResponse, 10)
    while not response.jobs:
        response = await next_message(call, pb.SessionResponse, 10)
    assert [(j.id, j.queue) for j in response.jobs] == [(str(fresh.id), "s")]
    own = response.jobs[0]
    other, lease = str(w.g_pending), str(uuid.uuid4())  # as if a lease id of globex leaked
    await call.write(pb.SessionRequest(
        settlements=[pb.Settlement(job_id=other, lease_id=lease, success=False),
                     pb.Settlement(job_id=own.id, lease_id=own.lease_id, success=True)],
        extensions=[pb.Extension(job_id=other, lease_id=lease, lease_ttl_seconds=60)]))
    settled: list[pb.Outcome] = []
    extended: list[pb.Outcome] = []
    while len(settled) < 2 or not extended:
        response = await next_message(call, pb.SessionResponse, 10)
        settled += response.settled
        extended += response.extended
    codes = {(o.job_id, o.code) for o in [*settled, *extended]}
    not_found = grpc.StatusCode.NOT_FOUND.value[0]
    assert codes == {(other, not_found), (own.id, 0)}, codes
    assert await w.status(fresh.id) is JobStatus.SUCCEEDED
    call.cancel()


def rpc_by_id(name: str) -> Callable[[World, pb_grpc.WorkerServiceAsyncStub], Awaitable[None]]:
    async def check(w: World, stub: pb_grpc.WorkerServiceAsyncStub) -> None:
        job, lease = str(w.g_pending), str(uuid.uuid4())
        meta = auth_metadata(w.acme if name in ("GetJob", "CancelJob", "EnqueueJobs")
                             else w.acme_worker)
        ack = pb.JobAck(job_id=job, lease_id=lease, worker_id="a", success=True)
        calls: dict[str, Callable[[], Awaitable[object]]] = {
                 "AckJob": lambda: stub.AckJob(ack, metadata=meta),
                 "NackJob": lambda: stub.NackJob(ack, metadata=meta),
                 "ExtendLease": lambda: stub.ExtendLease(pb.ExtendRequest(
                     job_id=job, lease_id=lease, worker_id="a"), metadata=meta),
                 "GetJob": lambda: stub.GetJob(pb.GetJobRequest(id=job), metadata=meta),
                 "CancelJob": lambda: stub.CancelJob(pb.CancelJobRequest(id=job),
                                                     metadata=meta)}
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await calls[name]()
        assert code_of(caught.value) is grpc.StatusCode.NOT_FOUND, name
    return check


async def rpc_enqueue(w: World, stub: pb_grpc.WorkerServiceAsyncStub) -> None:
    meta = auth_metadata(w.acme)
    done = await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[pb.JobSpec(type="t", queue="r")]),
                                  metadata=meta)
    assert (await w.rt.service.get(uuid.UUID(done.jobs[0].id))).queue == "acme~r"
    mine = await stub.GetJob(pb.GetJobRequest(id=done.jobs[0].id), metadata=meta)
    assert mine.queue == "r"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[pb.JobSpec(type="t",
                                                                      queue="globex~m")]),
                               metadata=meta)
    assert code_of(caught.value) is grpc.StatusCode.INVALID_ARGUMENT


_RPC = "/quorra.WorkerService/"
RPC_CHECKS: dict[str, Callable[[World, pb_grpc.WorkerServiceAsyncStub], Awaitable[None]]] = {
    f"{_RPC}LeaseJobs": rpc_lease,
    f"{_RPC}Session": rpc_session,
    f"{_RPC}AckJob": rpc_by_id("AckJob"),
    f"{_RPC}NackJob": rpc_by_id("NackJob"),
    f"{_RPC}ExtendLease": rpc_by_id("ExtendLease"),
    f"{_RPC}EnqueueJobs": rpc_enqueue,
    f"{_RPC}GetJob": rpc_by_id("GetJob"),
    f"{_RPC}CancelJob": rpc_by_id("CancelJob"),
}


def test_every_route_and_rpc_has_an_isolation_check() -> None:
    assert set(REST_CHECKS) == set(REST_ROUTES)
    assert set(RPC_CHECKS) == set(RPC_METHODS)


def test_routes_spanning_tenants_are_refused_to_a_tenant() -> None:
    tenant_admin = Principal(Role.ADMIN, tenant="acme")
    for rule in [*DASHBOARD_ROUTES.values(), *OPEN_ROUTES.values()]:
        with pytest.raises(PermissionDenied):
            authorize(tenant_admin, rule)
        authorize(Principal(Role.ADMIN), rule)


async def test_rest_isolation(world: World) -> None:
    for route, check in REST_CHECKS.items():
        await check(world)
        await world.globex_untouched()
        assert route  # (named in a failure's traceback)


async def test_rpc_isolation(world: World) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{world.rt.rpc.port}") as channel:
        stub = pb_grpc.WorkerServiceStub(channel)
        for method, check in RPC_CHECKS.items():
            await check(world, stub)
            await world.globex_untouched()
            assert method
        meta = auth_metadata(world.globex_worker)  # globex's own worker still gets its job
        jobs = [j async for j in stub.LeaseJobs(pb.LeaseRequest(worker_id="g", queue="m",
                                                                max_jobs=10), metadata=meta)]
        assert [(j.id, j.queue) for j in jobs] == [(str(world.g_pending), "m")]


async def test_dashboard_refuses_a_tenant(world: World) -> None:
    async with world.client(None) as c:
        c.headers.clear()
        answer = await login(c, world.acme)
        assert answer.status_code == 403 and "tenant" in answer.text
        assert (await c.get("/dashboard/api/overview")).status_code == 401
