"""Time limits with real processes: a ``quorra-server`` (Postgres-only, Redis ``grant`` and Redis
``stream`` leases) and ``quorra-worker`` processes running ``timeout_handlers.py``. A hung
``async def`` handler is cancelled at its deadline, retried, then dead; a ``def`` handler stuck
in ``time.sleep`` is reported at its deadline while its thread runs on (and the worker keeps
running other jobs); a worker that keeps heartbeating a hung job loses it at the deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.e2e.timeout_handlers import RUNS_FILE_ENV
from tests.e2e.worker_processes import API_KEY, Server, Workers, start_server, stop_process
from tests.rpc_reads import next_message
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
KEY = (("x-api-key", API_KEY),)
MODES = ["postgres", "grant", "stream"]


@pytest.fixture(params=MODES)
def server(request: pytest.FixtureRequest, clean_db: str, tmp_path: Path) -> Iterator[Server]:
    srv = start_server(clean_db, tmp_path, leases=request.param, QUORRA_SHUTDOWN_GRACE="2s",
                       QUORRA_REAP_INTERVAL="200ms")
    yield srv
    srv.stop()


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs.txt"


@pytest.fixture
def workers(server: Server, tmp_path: Path, runs: Path) -> Iterator[Workers]:
    pool = Workers(server, tmp_path)
    yield pool
    for proc in pool.procs:
        stop_process(proc)


def start_worker(workers: Workers, runs: Path, name: str, **env: str) -> None:
    workers.start(name, QUORRA_WORKER_HANDLERS="tests.e2e.timeout_handlers",
                  PYTHONPATH=str(ROOT), **{RUNS_FILE_ENV: str(runs)}, **env)


def events(runs: Path) -> list[tuple[str, str, int, float]]:
    if not runs.exists():
        return []
    return [(e, job, int(attempt), float(at)) for e, job, attempt, at in
            (line.split() for line in runs.read_text().splitlines())]


def create(server: Server, **body: Any) -> str:
    with server.client() as client:
        answer = client.post("/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def job(server: Server, job_id: str) -> dict[str, Any]:
    with server.client() as client:
        answer = client.get(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def row(url: str, job_id: str) -> tuple[Any, ...]:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT status, attempts, last_error, finished_at, updated_at "
                             "FROM quorra_jobs WHERE id = %s", (job_id,)).fetchone()
    assert found is not None
    return found


def test_hung_async_handler_is_timed_out_retried_then_dead(
        server: Server, workers: Workers, runs: Path, clean_db: str) -> None:
    start_worker(workers, runs, "w-async")
    job_id = create(server, type="hang_async", timeout_seconds=1, max_retries=1)
    wait_until(lambda: job(server, job_id)["status"] == "dead", timeout=30,
               what="the hung job to be dead")
    found = job(server, job_id)
    assert (found["attempts"], found["last_error"]) == (2, "timed out after 1s")
    seen = [(e, attempt) for e, j, attempt, _ in events(runs) if j == job_id]
    assert seen == [("start", 1), ("cancelled", 1), ("start", 2), ("cancelled", 2)]
    starts = {a: at for e, j, a, at in events(runs) if j == job_id and e == "start"}
    cancels = {a: at for e, j, a, at in events(runs) if j == job_id and e == "cancelled"}
    for attempt in (1, 2):  # cancelled at the deadline less the report margin (0.1 s)
        assert 0.8 <= cancels[attempt] - starts[attempt] <= 1.5
    assert starts[2] - cancels[1] >= 1.5  # the retry waited its backoff (2 s)


def test_sync_handler_is_reported_at_its_deadline_and_the_worker_goes_on(
        server: Server, workers: Workers, runs: Path, clean_db: str) -> None:
    start_worker(workers, runs, "w-sync", QUORRA_WORKER_MAX_JOBS="1")
    job_id = create(server, type="hang_sync", timeout_seconds=1, max_retries=0,
                    payload={"seconds": 5})
    wait_until(lambda: job(server, job_id)["status"] == "dead", timeout=20,
               what="the stuck job to be reported")
    found = job(server, job_id)
    assert found["last_error"] == "timed out after 1s"
    (started,) = [at for e, j, _, at in events(runs) if j == job_id and e == "start"]
    finished = row(clean_db, job_id)[3].timestamp()
    assert finished - started < 2.5  # reported at the deadline, not when the sleep ended
    assert not [e for e, j, _, _ in events(runs) if j == job_id and e != "start"]
    # its only slot is free again though the thread still sleeps: another job runs now
    quick = create(server, type="quick")
    wait_until(lambda: job(server, quick)["status"] == "succeeded", timeout=10,
               what="a job to run beside the stuck thread")
    assert [e for e, j, _, _ in events(runs) if j == job_id] == ["start"]
    wait_until(lambda: any(e == "timed_out" for e, j, _, _ in events(runs) if j == job_id),
               timeout=15, what="the stuck handler to return and see job.timed_out")
    assert job(server, job_id)["status"] == "dead"  # its late result changed nothing
    # a worker told to stop does not wait for a thread stuck past its job's deadline
    stuck = create(server, type="hang_sync", timeout_seconds=1, max_retries=0,
                   payload={"seconds": 600})
    wait_until(lambda: job(server, stuck)["status"] == "dead", timeout=20,
               what="the second stuck job to be reported")
    (proc,) = workers.procs
    began = time.monotonic()
    assert stop_process(proc, timeout=15) == 0
    assert time.monotonic() - began < 10
    assert "still running past their job's deadline" in workers.log("w-sync")


async def _heartbeat_hung_job(server: Server) -> tuple[list[float], int]:
    """A worker (any language) whose handler hangs: it heartbeats every 0.3 s asking for 30 s.
    Returns the deadlines granted (epoch seconds) and the code of the refusal."""
    granted: list[float] = []
    async with grpc.aio.insecure_channel(server.grpc) as channel:
        call = pb_grpc.WorkerServiceStub(channel).Session(metadata=KEY)
        await call.write(pb.SessionRequest(open=pb.SessionOpen(
            worker_id="stubborn", queues=["default"], lease_ttl_seconds=30), credit=1))
        response = await next_message(call, pb.SessionResponse, 10)
        (leased,) = response.jobs
        assert leased.timeout_seconds == 1.5 and leased.HasField("deadline")
        granted.append(leased.lease_expires_at.ToNanoseconds() / 1e9)
        for _ in range(30):
            await asyncio.sleep(0.3)
            await call.write(pb.SessionRequest(extensions=[pb.Extension(
                job_id=leased.id, lease_id=leased.lease_id, lease_ttl_seconds=30)]))
            reply = await next_message(call, pb.SessionResponse, 10)
            for outcome in reply.extended:
                if outcome.code:
                    call.cancel()
                    return granted, outcome.code
                granted.append(outcome.lease_expires_at.ToNanoseconds() / 1e9)
        call.cancel()
    raise AssertionError("the lease was never refused")


def test_heartbeating_a_hung_job_loses_it_at_the_deadline(
        server: Server, clean_db: str) -> None:
    job_id = create(server, type="anything", timeout_seconds=1.5, max_retries=0)
    started = time.time()
    granted, code = asyncio.run(_heartbeat_hung_job(server))
    refused_after = time.time() - started
    assert code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert len(set(granted)) == 1  # every heartbeat got the same deadline: the job's
    assert 1.4 <= refused_after <= 4
    wait_until(lambda: job(server, job_id)["status"] == "dead", timeout=10,
               what="the reaper to take the job back")
    assert job(server, job_id)["last_error"] == "timed out"
