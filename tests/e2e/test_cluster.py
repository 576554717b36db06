"""Two real ``quorra-server`` processes on one database: a ``quorra-worker`` connected to server
B shows on server A's ``/v1/workers``, ``/v1/replicas`` and dashboard overview, the jobs it runs
count in A's throughput, and once B stops, A shows neither B nor its worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_workers import enqueue
from tests.e2e.worker_processes import API_KEY, Server, Workers, start_server, stop_process
from tests.support import wait_until

BEAT = {"QUORRA_REPLICA_HEARTBEAT": "0.5s"}


def _get(server: Server, path: str) -> Any:
    with server.client() as client:
        answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _dashboard(server: Server) -> httpx.Client:
    client = httpx.Client(base_url=server.http, timeout=10)
    client.get("/dashboard/login")
    nonce = client.cookies.get("quorra_login")
    client.post("/dashboard/login", data={"nonce": nonce, "api_key": API_KEY})
    assert client.cookies.get("quorra_session"), "not logged in"
    return client


def test_a_worker_on_server_b_shows_on_server_a(clean_db: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = start_server(clean_db, tmp_path / "a", **BEAT)
    b = start_server(clean_db, tmp_path / "b", **BEAT)
    workers = Workers(b, tmp_path)
    try:
        workers.start("w-on-b")
        assert b.proc is not None
        b_pid = b.proc.pid

        def on_a() -> list[Any]:
            return [(w["worker_id"], w["replica"]) for w in _get(a, "/v1/workers")["workers"]]

        ((worker, replica),) = wait_until(on_a, timeout=20, what="B's worker on A")
        assert worker == "w-on-b"
        replicas = {r["id"]: r for r in _get(a, "/v1/replicas")["replicas"]}
        assert len(replicas) == 2 and all(r["live"] for r in replicas.values())
        assert replicas[replica]["pid"] == b_pid
        assert [w["worker_id"] for w in replicas[replica]["workers"]] == ["w-on-b"]

        enqueue(b, [{"type": "email_send", "payload": {"to": f"{i}@x.t"}} for i in range(20)])
        dash = _dashboard(a)
        try:
            def succeeded_on_a() -> float:
                view = dash.get("/dashboard/api/overview").json()
                assert [w["worker_id"] for w in view["workers"]] == ["w-on-b"]
                assert len(view["replicas"]) == 2
                return float(sum(point[2] for point in view["throughput"]))

            # A runs no worker, so any success in its view is B's. The points are rates, not
            # counts: a 1 s sample that runs late on a loaded box spreads the 20 jobs thinner.
            wait_until(lambda: succeeded_on_a() > 0, timeout=30,
                       what="B's successes in A's throughput")
        finally:
            dash.close()
        b.stop()
        wait_until(lambda: len(_get(a, "/v1/replicas")["replicas"]) == 1, timeout=20,
                   what="B to leave")
        assert on_a() == []
    finally:
        for proc in workers.procs:
            stop_process(proc)
        if b.proc is not None and b.proc.poll() is None:
            b.stop()
        a.stop()
