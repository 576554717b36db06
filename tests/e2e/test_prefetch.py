"""Prefetch with real processes: a worker whose jobs are short holds ``max_jobs`` running plus
``QUORRA_WORKER_PREFETCH`` waiting, never runs more than ``max_jobs`` at once, and gives the
waiting ones back at once when it stops."""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.prefetch_handlers import RUNS_FILE_ENV
from tests.e2e.test_workers import counts, enqueue, rows
from tests.e2e.worker_processes import Server, StopFn, Workers
from tests.support import wait_until

HANDLERS = "tests.e2e.prefetch_handlers"
ROOT = Path(__file__).resolve().parents[2]


def handler_env(file: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {"QUORRA_WORKER_HANDLERS": HANDLERS, "PYTHONPATH": path, RUNS_FILE_ENV: str(file)}


def runs(path: Path) -> list[tuple[str, float, str]]:
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines()]
    return [(event, float(at), job) for event, at, job in lines]


def starts(path: Path) -> list[str]:
    return [job for event, _, job in runs(path) if event == "start"]


def most_at_once(events: list[tuple[str, float, str]]) -> int:
    running = peak = 0
    for event, _, _ in sorted(events, key=lambda e: (e[1], e[0] == "start")):
        running += 1 if event == "start" else -1
        peak = max(peak, running)
    return peak


def test_short_jobs_are_prefetched_and_never_run_beyond_max_jobs(
    clean_db: str, worker_server: Server, workers: Workers, tmp_path: Path
) -> None:
    file = tmp_path / "runs.txt"
    workers.start("w1", QUORRA_WORKER_MAX_JOBS="3", QUORRA_WORKER_PREFETCH="6",
                  **handler_env(file))
    enqueue(worker_server, [{"type": "hold", "payload": {"seconds": 0.01}} for _ in range(300)])
    wait_until(lambda: counts(clean_db).get("succeeded") == 300, timeout=60,
               what="300 short jobs to succeed")
    events = runs(file)
    assert len(events) == 600
    assert most_at_once(events) <= 3
    assert rows(clean_db, "SELECT max(attempts) FROM quorra_jobs") == [(1,)]


def test_a_stopping_worker_gives_prefetched_jobs_back_unrun(
    clean_db: str, worker_server: Server, workers: Workers, tmp_path: Path,
    stop_process: StopFn,
) -> None:
    file = tmp_path / "runs.txt"
    proc = workers.start("w1", QUORRA_WORKER_MAX_JOBS="2", QUORRA_WORKER_PREFETCH="4",
                         QUORRA_SHUTDOWN_GRACE="30s", **handler_env(file))
    enqueue(worker_server, [{"type": "hold", "payload": {"seconds": 0.01}}])  # jobs are short
    wait_until(lambda: counts(clean_db).get("succeeded") == 1, timeout=20)
    enqueue(worker_server, [{"type": "hold", "payload": {"seconds": 2}} for _ in range(10)])
    wait_until(lambda: counts(clean_db).get("leased") == 6 and len(starts(file)) == 3,
               timeout=20, what="2 running and 4 prefetched jobs")
    assert stop_process(proc) == 0  # the 2 running finish within the grace period
    assert counts(clean_db) == {"succeeded": 3, "pending": 8}
    assert len(starts(file)) == 3, "a prefetched job ran during the drain"
    assert rows(clean_db, "SELECT max(attempts) FROM quorra_jobs WHERE status = 'pending'") == [
        (0,)]
