"""Stream leases (``QUORRA_REDIS_LEASES=stream``) with real processes: a SIGKILLed worker's job
is taken back by ``XAUTOCLAIM`` once its lease's TTL passed, counted as a failed attempt and
run again by another worker; the dead worker's lease can settle nothing; the metric counts the
expiry."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.e2e.test_workers import enqueue, execute, rows
from tests.e2e.worker_processes import API_KEY, Server, Workers, start_server, stop_process
from tests.support import wait_until

KEY = (("x-api-key", API_KEY),)


@pytest.fixture
def stream_server(clean_db: str, tmp_path: Path) -> Iterator[Server]:
    server = start_server(clean_db, tmp_path, leases="stream", QUORRA_REAP_INTERVAL="200ms")
    yield server
    server.stop()


def test_killed_workers_lease_is_taken_back_by_xautoclaim(
    clean_db: str, stream_server: Server, tmp_path: Path
) -> None:
    workers = Workers(stream_server, tmp_path)
    try:
        victim = workers.start("victim", QUORRA_WORKER_LEASE_TTL="2s")
        (job_id,) = enqueue(stream_server, [{"type": "sleep", "payload": {"seconds": 60}}])
        leased = wait_until(lambda: rows(clean_db, "SELECT lease_id FROM quorra_jobs "
                                                   "WHERE status = 'leased'"), timeout=10,
                            what="the lease recorded in PostgreSQL")
        old_lease = str(leased[0][0])
        victim.send_signal(signal.SIGKILL)
        victim.wait(5)
        execute(clean_db, "UPDATE quorra_jobs SET payload = '{\"seconds\": 0.1}'")
        workers.start("rescuer")
        wait_until(lambda: rows(clean_db, "SELECT status FROM quorra_jobs") == [("succeeded",)],
                   timeout=30, what="the job to run again after its lease expired")
        ((attempts, error),) = rows(clean_db, "SELECT attempts, last_error FROM quorra_jobs")
        assert attempts == 2 and error == "lease expired"
        with grpc.insecure_channel(stream_server.grpc) as channel, \
                pytest.raises(grpc.RpcError) as info:
            pb_grpc.WorkerServiceStub(channel).AckJob(
                pb.JobAck(job_id=job_id, lease_id=old_lease, success=True), metadata=KEY)
        assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        with stream_server.client() as client:
            metrics = client.get("/metrics").text
        assert 'quorra_lease_expiries_xautoclaim_total{queue="default"} 1.0' in metrics
        assert 'quorra_lease_expiries_total{queue="default"} 1.0' in metrics
    finally:
        for proc in workers.procs:
            stop_process(proc)
