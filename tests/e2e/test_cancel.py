"""Cancel end to end: a real ``quorra-server`` (Postgres-only, Redis ``grant`` and Redis
``stream`` leases) and a real ``quorra-worker`` running ``tests/e2e/cancel_handlers.py``. A
running ``async def`` handler's task is cancelled, a ``def`` handler polling ``job.cancelled``
stops, both jobs end ``cancelled`` and the worker takes new jobs; a pending job is never run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.worker_processes import Server, Workers, start_server, stop_process
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["postgres", "grant", "stream"])
def cancel_server(clean_db: str, tmp_path: Path,
                  request: pytest.FixtureRequest) -> Iterator[Server]:
    server = start_server(clean_db, tmp_path, leases=request.param)
    yield server
    server.stop()


def _enqueue(api: httpx.Client, job_type: str, marks: Path, **fields: object) -> str:
    body = {"type": job_type, "payload": {"dir": str(marks)}, "queue": "cancel", **fields}
    response = api.post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


def _status(api: httpx.Client, job_id: str) -> str:
    status: str = api.get(f"/v1/jobs/{job_id}").json()["status"]
    return status


def test_running_and_pending_jobs_are_cancelled(cancel_server: Server, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    workers = Workers(cancel_server, tmp_path)
    proc = workers.start("canceller", QUORRA_WORKER_QUEUES="cancel", QUORRA_WORKER_MAX_JOBS="2",
                         QUORRA_WORKER_HANDLERS="tests.e2e.cancel_handlers",
                         PYTHONPATH=str(ROOT))
    try:
        with cancel_server.client() as api:
            running = [_enqueue(api, "cancel_async", marks), _enqueue(api, "cancel_sync", marks)]
            waiting = _enqueue(api, "cancel_async", marks)  # no free slot: stays pending
            for job_id in running:
                wait_until((marks / f"{job_id}.started").exists, timeout=30,
                           what=f"job {job_id} to start")
            assert _status(api, waiting) == "pending"
            cancelled = api.post(f"/v1/jobs/{waiting}/cancel")
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
            for job_id in running:
                response = api.post(f"/v1/jobs/{job_id}/cancel")
                assert response.status_code == 200, response.text
                assert response.json()["status"] == "cancelled"
            for job_id in running:
                wait_until((marks / f"{job_id}.cancelled").exists, timeout=15,
                           what=f"the handler of {job_id} to see its cancel")
            # the freed slots take new work: the worker runs on
            quick = api.post("/v1/jobs", json={"type": "quick", "queue": "cancel"}).json()["id"]
            wait_until(lambda: _status(api, quick) == "succeeded", timeout=15,
                       what="a job after the cancels")
            for job_id in [*running, waiting]:
                assert _status(api, job_id) == "cancelled"
            assert api.post(f"/v1/jobs/{running[0]}/cancel").status_code == 200  # idempotent
            assert api.post(f"/v1/jobs/{quick}/cancel").status_code == 409
            assert api.post(f"/v1/jobs/{uuid.uuid4()}/cancel").status_code == 404
            metrics = httpx.get(f"{cancel_server.http}/metrics", timeout=5).text
            assert 'quorra_jobs_cancelled_total{queue="cancel"} 3.0' in metrics
        assert not (marks / f"{waiting}.started").exists()
        assert not any(marks.glob("*.finished"))
        assert proc.poll() is None
    finally:
        stop_process(proc)
    log = workers.log("canceller")
    assert "Traceback" not in log, log
