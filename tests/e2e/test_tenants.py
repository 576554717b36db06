"""Two tenants on one real ``quorra-server``, each with its own keys (made with ``quorractl keys
create --tenant``) and its own real ``quorra-worker`` on a queue both call ``mail``: each worker
runs only its tenant's jobs (the other tenant's wait untouched until their own worker comes),
each tenant's ``quorractl`` sees only its own jobs and counts; in both dispatch modes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.e2e.test_workers import rows
from tests.e2e.worker_processes import API_KEY, BIN, Server, Workers, process_env
from tests.support import wait_until


def ctl(server: Server, key: str, *args: str) -> str:
    done = subprocess.run([str(BIN / "quorractl"), "--server", server.http, "-o", "json", *args],
                          env=process_env(QUORRA_API_KEY=key), capture_output=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def by_queue(url: str) -> dict[tuple[str, str], int]:
    found = rows(url, "SELECT queue, status, count(*) FROM quorra_jobs GROUP BY queue, status")
    return {(queue, status): count for queue, status, count in found}


def test_two_tenants_two_workers(clean_db: str, mode_server: Server, tmp_path: Path) -> None:
    keys = {tenant: {role: json.loads(ctl(mode_server, API_KEY, "keys", "create",
                                          f"{tenant} {role}", "--role", role, "--tenant",
                                          tenant))["key"]
                     for role in ("producer", "worker", "operator")}
            for tenant in ("acme", "globex")}
    for tenant in keys:
        jobs = [{"type": "test_job", "queue": "mail", "payload": {"n": n}} for n in range(10)]
        with httpx.Client(base_url=mode_server.http, timeout=10,
                          headers={"X-API-Key": keys[tenant]["producer"]}) as client:
            assert client.post("/v1/jobs/batch", json={"jobs": jobs}).status_code == 201
    assert by_queue(clean_db) == {("acme~mail", "pending"): 10, ("globex~mail", "pending"): 10}
    workers = Workers(mode_server, tmp_path)
    try:
        workers.start("acme-w", QUORRA_API_KEY=keys["acme"]["worker"],
                      QUORRA_WORKER_QUEUES="mail")
        wait_until(lambda: by_queue(clean_db).get(("acme~mail", "succeeded")) == 10,
                   timeout=30, what="acme's worker to run acme's jobs")
        assert by_queue(clean_db)[("globex~mail", "pending")] == 10  # never leased by acme's
        workers.start("globex-w", QUORRA_API_KEY=keys["globex"]["worker"],
                      QUORRA_WORKER_QUEUES="mail")
        wait_until(lambda: by_queue(clean_db).get(("globex~mail", "succeeded")) == 10,
                   timeout=30, what="globex's worker to run globex's jobs")
        ran = rows(clean_db, "SELECT DISTINCT split_part(queue, '~', 1), leased_by "
                             "FROM quorra_jobs WHERE leased_by IS NOT NULL")
        assert set(ran) <= {("acme", "acme-w"), ("globex", "globex-w")}
    finally:
        for proc in workers.procs:
            proc.terminate()
            proc.wait(20)
    listed = json.loads(ctl(mode_server, keys["acme"]["operator"], "list", "--limit", "100"))
    assert len(listed["jobs"]) == 10 and {j["queue"] for j in listed["jobs"]} == {"mail"}
    stats = ctl(mode_server, keys["globex"]["operator"], "stats")
    assert "acme" not in stats and "mail" in stats
