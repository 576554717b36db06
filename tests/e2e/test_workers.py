"""quorra-server + quorra-worker processes over loopback."""

from __future__ import annotations

import signal
import time
from typing import Any

import grpc
import msgspec
import psycopg
import pytest

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.e2e.worker_processes import API_KEY, Server, StopFn, Workers, stop_process
from tests.support import wait_until

KEY = (("x-api-key", API_KEY),)


def enqueue(worker_server: Server, jobs: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    with grpc.insecure_channel(worker_server.grpc) as channel:
        stub = pb_grpc.WorkerServiceStub(channel)
        for start in range(0, len(jobs), 500):
            specs = [pb.JobSpec(type=j["type"], payload=msgspec.json.encode(j.get("payload", {})),
                                max_retries=j.get("max_retries", 3), queue=j.get("queue", ""))
                     for j in jobs[start:start + 500]]
            done = stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=specs), metadata=KEY)
            ids += [item.id for item in done.jobs]
    return ids


def rows(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, args).fetchall()


def execute(url: str, query: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query)


def counts(url: str) -> dict[str, int]:
    return dict(rows(url, "SELECT status, count(*) FROM quorra_jobs GROUP BY status"))


def test_four_workers_run_a_thousand_jobs_exactly_once(
    clean_db: str, worker_server: Server, workers: Workers
) -> None:
    for i in range(4):
        workers.start(f"w{i}", QUORRA_WORKER_MAX_JOBS="20")
    enqueue(worker_server, [{"type": "test_job", "payload": {"n": i}} for i in range(1000)])
    wait_until(lambda: counts(clean_db).get("succeeded") == 1000, timeout=60,
               what="1000 jobs to succeed")
    assert rows(clean_db, "SELECT max(attempts), min(attempts) FROM quorra_jobs") == [(1, 1)]
    by_worker = dict(rows(clean_db, "SELECT leased_by, count(*) FROM quorra_jobs GROUP BY 1"))
    assert sum(by_worker.values()) == 1000


def test_result_failure_and_dead_letter(
    clean_db: str, worker_server: Server, workers: Workers
) -> None:
    workers.start("w1")
    ok, failing, unknown = enqueue(worker_server, [
        {"type": "email_send", "payload": {"to": "a@b.c"}},
        {"type": "fail", "max_retries": 1},
        {"type": "no_such_type"},
    ])
    with worker_server.client() as http:
        def status(job_id: str) -> dict[str, Any]:
            body: dict[str, Any] = http.get(f"/v1/jobs/{job_id}").json()
            return body

        job = wait_until(lambda: (b := status(ok))["status"] == "succeeded" and b, timeout=10)
        assert job["result"] == {"sent": True, "to": "a@b.c"}
        gone = wait_until(lambda: (b := status(unknown))["status"] == "dead" and b, timeout=10)
        assert gone["attempts"] == 1 and "no handler" in gone["last_error"]
        # fails, waits out the 2 s backoff, fails again: dead after 1 + max_retries runs
        dead = wait_until(lambda: (b := status(failing))["status"] == "dead" and b, timeout=15)
        assert dead["attempts"] == 2 and "always fails" in dead["last_error"]


def test_killed_worker_job_is_re_leased_after_ttl(
    clean_db: str, worker_server: Server, workers: Workers
) -> None:
    victim = workers.start("victim", QUORRA_WORKER_LEASE_TTL="2s")
    (job_id,) = enqueue(worker_server, [{"type": "sleep", "payload": {"seconds": 60}}])
    leased = wait_until(lambda: rows(clean_db, "SELECT lease_id FROM quorra_jobs "
                                               "WHERE status = 'leased'"), timeout=10)
    old_lease = str(leased[0][0])
    victim.send_signal(signal.SIGKILL)
    victim.wait(5)
    execute(clean_db, "UPDATE quorra_jobs SET payload = '{\"seconds\": 0.1}'")
    workers.start("rescuer")
    wait_until(lambda: counts(clean_db).get("succeeded") == 1, timeout=20,
               what="the job to be re-run after its lease expired")
    ((attempts, error),) = rows(clean_db, "SELECT attempts, last_error FROM quorra_jobs")
    assert attempts == 2 and error == "lease expired"
    with grpc.insecure_channel(worker_server.grpc) as channel, pytest.raises(grpc.RpcError) as info:
        pb_grpc.WorkerServiceStub(channel).AckJob(
            pb.JobAck(job_id=job_id, lease_id=old_lease, success=True), metadata=KEY)
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION


def test_heartbeats_keep_a_long_job_on_one_attempt(
    clean_db: str, worker_server: Server, workers: Workers
) -> None:
    workers.start("w1", QUORRA_WORKER_LEASE_TTL="1s")
    enqueue(worker_server, [{"type": "sleep", "payload": {"seconds": 3.5}}])
    wait_until(lambda: counts(clean_db).get("succeeded") == 1, timeout=20)
    assert rows(clean_db, "SELECT attempts, last_error FROM quorra_jobs") == [(1, None)]


def test_sigterm_drains_in_flight_jobs(
    clean_db: str, worker_server: Server, workers: Workers, stop_process: StopFn
) -> None:
    proc = workers.start("w1", QUORRA_WORKER_MAX_JOBS="3")
    # 3 s jobs: seeing them leased may lag their start by a poll or a loaded scheduler
    enqueue(worker_server, [{"type": "sleep", "payload": {"seconds": 3}} for _ in range(5)])
    wait_until(lambda: counts(clean_db).get("leased") == 3, timeout=10)
    started = time.monotonic()
    assert stop_process(proc) == 0
    assert time.monotonic() - started >= 1.0, "should have waited for the running jobs"
    assert counts(clean_db) == {"succeeded": 3, "pending": 2}
    assert rows(clean_db, "SELECT max(attempts) FROM quorra_jobs WHERE status = 'pending'") == [
        (0,)]


def test_sigterm_after_grace_releases_unfinished_jobs(
    clean_db: str, worker_server: Server, workers: Workers, stop_process: StopFn
) -> None:
    proc = workers.start("w1", QUORRA_WORKER_MAX_JOBS="2", QUORRA_SHUTDOWN_GRACE="0.5s")
    enqueue(worker_server, [{"type": "sleep", "payload": {"seconds": 60}} for _ in range(2)])
    wait_until(lambda: counts(clean_db).get("leased") == 2, timeout=10)
    assert stop_process(proc) == 0
    assert counts(clean_db) == {"pending": 2}
    assert rows(clean_db, "SELECT max(attempts), bool_and(run_at <= now()) FROM quorra_jobs") == [
        (0, True)]


def test_wrong_key_stops_the_worker(worker_server: Server, workers: Workers) -> None:
    proc = workers.start("w1", QUORRA_API_KEY="wrong")
    assert proc.wait(15) == 1
    assert "UNAUTHENTICATED" in workers.log("w1")


def test_invalid_setting_names_the_variable(worker_server: Server, workers: Workers) -> None:
    proc = workers.start("w1", QUORRA_WORKER_MAX_JOBS="many")
    assert proc.wait(15) == 2
    assert "QUORRA_WORKER_MAX_JOBS" in workers.log("w1")


def test_server_shutdown_lets_sessions_settle_and_workers_reconnect(
    clean_db: str, worker_server: Server, workers: Workers
) -> None:
    workers.start("w1", QUORRA_WORKER_MAX_JOBS="2")
    enqueue(worker_server, [{"type": "sleep", "payload": {"seconds": 1.5}} for _ in range(2)])
    wait_until(lambda: counts(clean_db).get("leased") == 2, timeout=10)
    assert worker_server.stop() == 0  # waits for the session to settle what the worker holds
    assert counts(clean_db) == {"succeeded": 2}
    worker_server.start()
    enqueue(worker_server, [{"type": "test_job"}])
    wait_until(lambda: counts(clean_db).get("succeeded") == 3, timeout=30,
               what="the worker to reconnect and run the new job")


def test_lost_lease_cancels_the_handler(
    clean_db: str, worker_server: Server, workers: Workers
) -> None:
    workers.start("w1", QUORRA_WORKER_LEASE_TTL="1s", QUORRA_WORKER_MAX_JOBS="1")
    enqueue(worker_server, [{"type": "sleep", "payload": {"seconds": 60}}])
    wait_until(lambda: counts(clean_db).get("leased") == 1, timeout=10)
    # the lease runs out behind the worker's back (as after a long pause): the reaper takes the
    # job back, the next heartbeat is refused, and the handler is cancelled without reporting
    execute(clean_db, "UPDATE quorra_jobs SET lease_expires_at = now() - interval '1 second', "
                      "payload = '{\"seconds\": 0.1}'")
    wait_until(lambda: "lost" in workers.log("w1"), timeout=15,
               what="the worker to notice its lease is gone")
    # its only slot is free again: it runs the job's second attempt after the backoff
    wait_until(lambda: counts(clean_db).get("succeeded") == 1, timeout=20)
    assert rows(clean_db, "SELECT attempts FROM quorra_jobs") == [(2,)]


def test_connected_worker_is_listed_with_its_jobs_in_flight(
    clean_db: str, worker_server: Server, workers: Workers
) -> None:
    def listed() -> list[dict[str, object]]:
        with worker_server.client() as client:
            found = client.get("/v1/workers").json()["workers"]
        return [w for w in found if w["worker_id"] == "w-listed"]

    proc = workers.start("w-listed", QUORRA_WORKER_QUEUES="alpha,beta")
    (entry,) = wait_until(listed, timeout=20, what="the worker to be listed")
    assert entry["queues"] == ["alpha", "beta"] and entry["in_flight"] == 0
    enqueue(worker_server, [{"type": "sleep", "queue": "beta", "payload": {"seconds": 3}}])
    wait_until(lambda: listed()[0]["in_flight"] == 1, timeout=20, what="one job in flight")
    wait_until(lambda: counts(clean_db).get("succeeded") == 1, timeout=20)
    assert stop_process(proc) == 0
    wait_until(lambda: listed() == [], timeout=20, what="the worker to leave the list")
