"""Retention with real processes, in both dispatch modes: a ``quorra-server`` keeping succeeded
jobs 1 s (and dead ones forever) deletes the jobs a real ``quorra-worker`` ran once they are
older than that, leaves the dead and the unfinished ones, and counts what it deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_pause import start_server, statuses
from tests.e2e.test_workers import enqueue
from tests.e2e.worker_processes import Workers
from tests.support import wait_until


def deleted_metric(text: str, status: str) -> float:
    line = f'quorra_jobs_deleted_total{{status="{status}"}}'
    return sum(float(row.split()[-1]) for row in text.splitlines() if row.startswith(line))


@pytest.mark.parametrize("mode", ["postgres", "redis"])
def test_finished_jobs_are_deleted_after_their_retention(
    mode: str, clean_db: str, tmp_path: Path
) -> None:
    server = start_server(mode, clean_db, tmp_path, QUORRA_RETAIN_SUCCEEDED="1s",
                          QUORRA_RETAIN_DEAD="0", QUORRA_RETENTION_INTERVAL="1s")
    workers = Workers(server, tmp_path)
    try:
        workers.start("w1", QUORRA_WORKER_QUEUES="kept,gone")
        enqueue(server, [{"type": "test_job", "queue": "gone"} for _ in range(20)]
                + [{"type": "fail", "queue": "kept", "max_retries": 0}])
        wait_until(lambda: statuses(clean_db, "kept") == {"dead": 1}, timeout=30,
                   what="the failing job to be dead")
        paused = server.client().post("/v1/queues/kept/pause")
        assert paused.status_code == 200, paused.text
        enqueue(server, [{"type": "test_job", "queue": "kept"}])  # paused: stays pending
        wait_until(lambda: not statuses(clean_db, "gone"), timeout=30,
                   what="the 20 succeeded jobs to be deleted")
        assert statuses(clean_db, "kept") == {"dead": 1, "pending": 1}
        metrics = server.client().get("/metrics").text
        assert deleted_metric(metrics, "succeeded") == 20
        assert deleted_metric(metrics, "dead") == 0
    finally:
        for proc in workers.procs:
            proc.terminate()
            proc.wait(20)
        server.stop()
