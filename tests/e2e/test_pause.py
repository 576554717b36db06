"""Pause and resume a queue with ``quorractl`` against a real ``quorra-server`` and
``quorra-worker`` processes, in both dispatch modes: the paused queue's jobs wait while another
queue's jobs run on the same worker, and run once the queue is resumed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.test_workers import enqueue, rows
from tests.e2e.worker_processes import (
    API_KEY,
    BIN,
    Server,
    Workers,
    process_env,
    stop_process,
)
from tests.support import wait_until


def ctl(server: Server, *args: str) -> str:
    done = subprocess.run([str(BIN / "quorractl"), "--server", server.http, *args],
                          env=process_env(QUORRA_API_KEY=API_KEY), capture_output=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def statuses(url: str, queue: str) -> dict[str, int]:
    return dict(rows(url, "SELECT status, count(*) FROM quorra_jobs WHERE queue = %s "
                          "GROUP BY status", queue))


def test_paused_queue_waits_while_others_run_then_resumes(
    clean_db: str, mode_server: Server, tmp_path: Path
) -> None:
    held = enqueue(mode_server, [{"type": "test_job", "queue": "held"} for _ in range(5)])
    assert "paused" in ctl(mode_server, "pause", "held")
    workers = Workers(mode_server, tmp_path)
    try:
        workers.start("w-pause", QUORRA_WORKER_QUEUES="held,free", QUORRA_WORKER_MAX_JOBS="4")
        enqueue(mode_server, [{"type": "test_job", "queue": "free"} for _ in range(20)])
        enqueue(mode_server, [{"type": "test_job", "queue": "held"} for _ in range(5)])
        wait_until(lambda: statuses(clean_db, "free").get("succeeded") == 20, timeout=60,
                   what="the other queue's jobs to run")
        assert statuses(clean_db, "held") == {"pending": 10}
        listing = mode_server.client().get("/v1/queues").json()
        assert listing["paused"] == ["held"]
        assert "paused" in ctl(mode_server, "queues")
        assert "resumed" in ctl(mode_server, "resume", "held")
        wait_until(lambda: statuses(clean_db, "held").get("succeeded") == 10, timeout=30,
                   what="the resumed queue's jobs to run")
        assert rows(clean_db, "SELECT max(attempts) FROM quorra_jobs WHERE id = ANY(%s::uuid[])",
                    held) == [(1,)]
        metrics = mode_server.client().get("/metrics").text
        assert 'quorra_queue_paused{queue="held"} 0.0' in metrics
    finally:
        for proc in workers.procs:
            stop_process(proc)
