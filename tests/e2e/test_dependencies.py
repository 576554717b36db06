"""Job dependencies with real processes: a ``quorra-server`` (Postgres-only, Redis ``grant`` and
Redis ``stream`` leases) and two ``quorra-worker`` processes running ``dependency_handlers.py``.
A diamond (A → B, C → D) sent over REST runs in dependency order; a 1,000-job fan-out/fan-in
sent with ``quorra.Client`` runs every wave after the one before; a failed parent cancels its
dependents; ``quorractl create --after`` and ``get`` show the graph; the unblocked counter
moves."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import quorra
from tests.e2e.dependency_handlers import RUNS_FILE_ENV
from tests.e2e.test_time_limits import runs, server  # fixtures: a server in each of 3 modes
from tests.e2e.worker_processes import (
    API_KEY,
    BIN,
    Server,
    Workers,
    process_env,
    stop_process,
)
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["runs", "server"]  # the fixtures, used by name below


@pytest.fixture
def workers(server: Server, tmp_path: Path, runs: Path) -> Iterator[Workers]:
    pool = Workers(server, tmp_path)
    for name in ("w1", "w2"):
        pool.start(name, QUORRA_WORKER_HANDLERS="tests.e2e.dependency_handlers",
                   QUORRA_WORKER_QUEUES="deps", QUORRA_WORKER_MAX_JOBS="8",
                   PYTHONPATH=str(ROOT), **{RUNS_FILE_ENV: str(runs)})
    yield pool
    for proc in pool.procs:
        stop_process(proc)


def times(runs: Path) -> dict[tuple[str, str], float]:
    """(event, job id) -> wall time, from the handlers' notes."""
    if not runs.exists():
        return {}
    return {(event, job): float(at) for event, job, at in
            (line.split() for line in runs.read_text().splitlines())}


def status(server: Server, job_id: str) -> str:
    with server.client() as client:
        return str(client.get(f"/v1/jobs/{job_id}").json()["status"])


def test_diamond_over_rest(server: Server, workers: Workers, runs: Path) -> None:
    a, b, c, d = (str(uuid.uuid4()) for _ in range(4))
    jobs = [{"type": "step", "id": d, "queue": "deps", "depends_on": [b, c]},
            {"type": "step", "id": b, "queue": "deps", "depends_on": [a],
             "payload": {"seconds": 0.2}},
            {"type": "step", "id": c, "queue": "deps", "depends_on": [a],
             "payload": {"seconds": 0.2}},
            {"type": "step", "id": a, "queue": "deps", "payload": {"seconds": 0.2}}]
    with server.client() as client:
        answer = client.post("/v1/jobs/batch", json={"jobs": jobs})
    assert answer.status_code == 201, answer.text
    wait_until(lambda: status(server, d) == "succeeded", timeout=30, what="D to succeed")
    at = times(runs)
    assert at[("start", b)] >= at[("end", a)] and at[("start", c)] >= at[("end", a)]
    assert at[("start", d)] >= max(at[("end", b)], at[("end", c)])
    # each step began soon after its last parent ended: no poll or sweep in between
    assert at[("start", d)] - max(at[("end", b)], at[("end", c)]) < 1.0
    with server.client() as client:
        metrics = client.get("/metrics").text
    assert 'quorra_jobs_unblocked_total{queue="deps"}' in metrics


def test_fan_out_fan_in_of_1000_jobs(server: Server, workers: Workers, runs: Path) -> None:
    root, sink = str(uuid.uuid4()), str(uuid.uuid4())
    leaves = [str(uuid.uuid4()) for _ in range(1000)]
    joins = [str(uuid.uuid4()) for _ in range(10)]
    jobs = [quorra.NewJob("step", id=root, queue="deps")]
    jobs += [quorra.NewJob("step", id=leaf, queue="deps", depends_on=[root]) for leaf in leaves]
    jobs += [quorra.NewJob("step", id=join, queue="deps",
                           depends_on=leaves[i * 100:(i + 1) * 100])
             for i, join in enumerate(joins)]
    jobs.append(quorra.NewJob("step", id=sink, queue="deps", depends_on=joins))
    started = time.monotonic()
    with quorra.Client(server.grpc, api_key=API_KEY) as client:
        stored = client.enqueue_many(jobs)
        assert [s.status for s in stored[:2]] == ["pending", "blocked"]
        wait_until(lambda: client.get(sink).status == "succeeded", timeout=90,
                   what="the sink to succeed")
        assert client.get(root).dependents and len(client.get(root).dependents) == 1000
    elapsed = time.monotonic() - started
    at = times(runs)
    assert min(at[("start", leaf)] for leaf in leaves) >= at[("end", root)]
    for i, join in enumerate(joins):
        assert at[("start", join)] >= max(at[("end", leaf)] for leaf in
                                          leaves[i * 100:(i + 1) * 100])
    assert at[("start", sink)] >= max(at[("end", join)] for join in joins)
    ran = at[("end", sink)] - at[("start", root)]
    # every wave was leasable at once: no wait for a poll, a repair sweep or a lease expiry
    assert ran < 10, f"the workflow ran for {ran:.1f} s"
    print(f"fan-out/fan-in of 1,012 jobs: {elapsed:.2f} s from the first enqueue, "
          f"{ran:.2f} s from the root's start to the sink's end")


def test_failed_parent_cancels_and_quorractl_after(server: Server, workers: Workers) -> None:
    with server.client() as client:
        parent = client.post("/v1/jobs", json={"type": "boom", "queue": "deps",
                                                "max_retries": 0}).json()["id"]
    made = subprocess.run(
        [str(BIN / "quorractl"), "--server", server.http, "-o", "json", "create", "step",
         "--queue", "deps", "--after", parent],
        env=process_env(QUORRA_API_KEY=API_KEY), capture_output=True, timeout=30, check=True)
    child = json.loads(made.stdout)["id"]
    wait_until(lambda: status(server, child) == "cancelled", timeout=30,
               what="the dependent to be cancelled")
    shown = subprocess.run(
        [str(BIN / "quorractl"), "--server", server.http, "get", child],
        env=process_env(QUORRA_API_KEY=API_KEY), capture_output=True, timeout=30, check=True)
    text = shown.stdout.decode()
    assert "depends_on" in text and parent in text and "ended dead" in text
    bad = subprocess.run(
        [str(BIN / "quorractl"), "--server", server.http, "create", "step", "--after",
         str(uuid.uuid4())], env=process_env(QUORRA_API_KEY=API_KEY), capture_output=True,
        timeout=30, check=False)
    assert bad.returncode == 1 and b"depends_on" in bad.stderr
