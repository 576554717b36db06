"""Every long-lived task of a server or worker survives an injected failure: it is logged at
ERROR and restarted, or it ends its owner (a session, so the worker reconnects). And liveness
fails when dispatch is stuck anyway."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import psycopg
import pytest

from quorra.bootstrap import running
from quorra.broker.postgres import waker as waker_module
from quorra.core.errors import StoreUnavailable
from quorra.core.webhooks import WEBHOOK_QUEUE
from quorra.db.pool import create_pool
from quorra.rpc.feed import Feed
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from quorra.rpc.server import STOP_MARGIN
from quorra.scheduler import Housekeeping
from quorra.worker import Job, Registry, Worker, WorkerConfig
from tests.integration.conftest import API_KEY, KEY, Replica, asgi_client, settings_for
from tests.integration.test_rpc import Stub, enqueue
from tests.support import eventually


def errors_of(caplog: pytest.LogCaptureFixture, task: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.levelno == logging.ERROR and task in r.getMessage() and r.exc_info]


async def open_session(stub: Stub, credit: int) -> Any:
    call = stub.Session(metadata=KEY)
    await call.write(pb.SessionRequest(open=pb.SessionOpen(worker_id="w"), credit=credit))
    await call.initial_metadata()
    return call


async def read_jobs(call: Any, count: int) -> list[pb.Job]:
    got: list[pb.Job] = []
    while len(got) < count:
        got += (await asyncio.wait_for(call.read(), 10)).jobs
    return got


class TestSessionFeed:
    async def test_lease_failures_during_a_store_restart_are_waited_out(
        self, stub: Stub, replica: Replica, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        service = replica.runtime.service
        real, failures = service.lease, [3]

        async def restarting(*args: Any, **kwargs: Any) -> Any:
            if failures[0]:
                failures[0] -= 1
                raise StoreUnavailable("PostgreSQL is unavailable: AdminShutdown")
            return await real(*args, **kwargs)

        monkeypatch.setattr(service, "lease", restarting)
        call = await open_session(stub, credit=2)
        ids = await enqueue(stub, "a", "b")
        got = await read_jobs(call, 2)
        assert sorted(j.id for j in got) == sorted(ids) and failures == [0]
        call.cancel()

    async def test_an_unexpected_failure_ends_the_session_loudly(
        self, stub: Stub, replica: Replica, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture
    ) -> None:
        service = replica.runtime.service
        real = service.lease

        async def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("injected lease bug")

        monkeypatch.setattr(service, "lease", broken)
        call = await open_session(stub, credit=1)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await asyncio.wait_for(call.read(), 10)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        assert errors_of(caplog, "quorra-session-feed")
        async with asgi_client(replica.runtime) as client:
            text = (await client.get("/metrics")).text
        assert 'quorra_background_task_failures_total{task="quorra-session-feed"}' in text
        monkeypatch.setattr(service, "lease", real)  # the worker's reconnect gets jobs again
        again = await open_session(stub, credit=1)
        ids = await enqueue(stub, "after")
        assert [j.id for j in await read_jobs(again, 1)] == ids
        again.cancel()


async def test_dispatch_watcher_is_restarted(
    stub: Stub, replica: Replica, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    service = replica.runtime.service
    real, calls = service.wait_for_jobs, []

    async def flaky(queues: Any, timeout: float) -> None:
        if WEBHOOK_QUEUE not in queues:  # the webhook delivery loop waits here too
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("injected wake-up failure")
        await real(queues, timeout)

    monkeypatch.setattr(service, "wait_for_jobs", flaky)
    call = await open_session(stub, credit=1)
    await eventually(lambda: _true(len(calls) >= 2), what="the watcher restarted")
    ids = await enqueue(stub, "woken")
    assert [j.id for j in await read_jobs(call, 1)] == ids
    assert errors_of(caplog, "quorra-dispatch")
    call.cancel()


async def _true(value: bool) -> bool:
    return value


async def test_postgres_wakeup_listener_is_restarted(
    clean_db: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real, calls = psycopg.AsyncConnection.connect, []

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected listener bug")
        return await real(*args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", flaky)
    waker = waker_module.Waker(clean_db, create_pool(clean_db, max_size=1, timeout=1))
    waker.start()
    try:
        async with await real(clean_db, autocommit=True) as conn:
            for _ in range(100):  # until the restarted listener hears a NOTIFY
                await conn.execute(f"NOTIFY {waker_module.CHANNEL}, 'q'")
                waited = asyncio.get_running_loop().time()
                await waker.wait(["q"], 0.2)
                if asyncio.get_running_loop().time() - waited < 0.15:
                    break
            else:
                pytest.fail("the listener never came back")
    finally:
        await waker.close()
    assert len(calls) >= 2 and errors_of(caplog, "quorra-pg-listener")


async def test_failing_housekeeping_chore_is_logged_and_runs_again(
    replica: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[int] = []

    async def chore() -> None:
        runs.append(1)
        raise RuntimeError("injected chore bug")

    housekeeping = Housekeeping(replica.runtime.service)
    housekeeping.add_chore("boom", chore, 0.05)
    housekeeping.start()
    try:
        await eventually(lambda: _true(len(runs) >= 3), what="the chore ran again")
    finally:
        housekeeping.shutdown()
    assert len(errors_of(caplog, "quorra-chore-boom")) >= 2


async def test_worker_reconnects_when_its_writer_fails(
    replica: Replica, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    handlers = Registry()
    done: list[str] = []

    @handlers.handler("t")
    async def handle(job: Job) -> None:
        done.append(job.id)

    real, writes = Worker._write, []

    async def flaky(self: Worker, call: Any) -> None:
        writes.append(1)
        if len(writes) == 1:
            raise RuntimeError("injected writer bug")
        await real(self, call)

    monkeypatch.setattr(Worker, "_write", flaky)
    worker = Worker(WorkerConfig(worker_id="w", grpc_addr=replica.target, api_key=API_KEY,
                                 max_jobs=2, shutdown_grace=2), handlers)
    task = asyncio.create_task(worker.run())
    try:
        # the jobs go out after the reconnect: a job leased by the broken session would wait
        # for its lease to expire, which is another test's subject
        await eventually(lambda: _true(len(writes) >= 2), timeout=20, what="the reconnect")
        async with replica.channel() as channel:
            ids = await enqueue(pb_grpc.WorkerServiceStub(channel), "t", "t", "t")
        await eventually(lambda: _true(sorted(done) == sorted(ids)), timeout=20,
                         what="jobs run after the reconnect")
    finally:
        worker.stop()
        await asyncio.wait_for(task, 20)
    assert len(writes) >= 2 and errors_of(caplog, "quorra-worker-session")


@pytest.fixture
async def stall_replica(clean_db: str) -> AsyncIterator[Replica]:
    settings = settings_for(clean_db, shutdown_grace=1.0, dispatch_stall=1.0)
    async with running(settings) as rt:
        yield Replica(rt, f"127.0.0.1:{rt.rpc.port}")


async def test_liveness_fails_while_dispatch_is_stuck(
    stall_replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = asyncio.Event()

    async def hangs(self: Feed, limit: int) -> list[Any]:
        stuck.set()
        await asyncio.Event().wait()
        return []

    monkeypatch.setattr(Feed, "take", hangs)
    async with asgi_client(stall_replica.runtime) as client, stall_replica.channel() as channel:
        stub = pb_grpc.WorkerServiceStub(channel)
        assert (await client.get("/healthz")).status_code == 200
        call = await open_session(stub, credit=4)
        await asyncio.wait_for(stuck.wait(), 10)
        await enqueue(stub, "waits")
        assert (await client.get("/healthz")).status_code == 200  # not yet past the threshold

        async def unhealthy() -> bool:
            return (await client.get("/healthz")).status_code == 503

        await eventually(unhealthy, timeout=15, interval=0.2, what="/healthz failing")
        answer = await client.get("/healthz")
        assert "dispatch stalled" in answer.text and "default" in answer.text
        assert "quorra_dispatch_stalled 1.0" in (await client.get("/metrics")).text
        call.cancel()

        async def healthy() -> bool:
            return (await client.get("/healthz")).status_code == 200

        await eventually(healthy, timeout=10, interval=0.2, what="liveness back once it left")
        assert "quorra_dispatch_stalled 0.0" in (await client.get("/metrics")).text


async def test_a_grpc_stop_that_hangs_does_not_hang_the_replica(
    replica: Replica, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """grpcio's ``stop(grace)`` has been seen to hang in tests: the replica's shutdown waits for
    it no longer than the grace period plus a margin."""
    rpc = replica.runtime.rpc
    real_stop, hung = rpc.server.stop, asyncio.Event()

    async def never(grace: float | None) -> None:
        hung.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(rpc.server, "stop", never)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(rpc.stop(), rpc.grace + STOP_MARGIN + 5)
    assert hung.is_set() and asyncio.get_running_loop().time() - started >= rpc.grace
    assert any("did not stop" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(rpc.server, "stop", real_stop)
    await real_stop(0)  # the fixture's own stop finds it stopped already
