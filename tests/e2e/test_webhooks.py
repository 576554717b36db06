"""Webhooks end to end: a real ``quorra-server`` (Postgres-only, and Redis mode with ``grant``
and ``stream`` leases), a real ``quorra-worker`` whose job succeeds, and a real local HTTPS
receiver (certificate made here by ``openssl``; the server trusts it through
``QUORRA_WEBHOOK_CA_FILE``) that refuses the first two deliveries. The server is restarted
after the first refusal. The delivery still arrives, on the third attempt, after the normal
backoff; every attempt carries the same ``Quorra-Delivery`` id and a signature that
``quorra.webhooks.verify`` accepts with the subscription's secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from quorra.cli import main
from quorra.webhooks import InvalidSignature, verify
from tests.e2e.test_time_limits import ROOT
from tests.e2e.test_tls import make_ca, make_cert
from tests.e2e.timeout_handlers import RUNS_FILE_ENV
from tests.e2e.webhook_receiver import Receiver
from tests.e2e.worker_processes import API_KEY, Server, Workers, start_server, stop_process
from tests.support import require_tool, wait_until

MODES = ["postgres", "grant", "stream"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("openssl", "openssl")
    cwd = tmp_path_factory.mktemp("hook-certs")
    make_ca("ca", cwd)
    make_cert("receiver", "ca", cwd, san="IP:127.0.0.1,DNS:localhost")
    return cwd


@pytest.fixture
def receiver(certs: Path) -> Iterator[Receiver]:
    found = Receiver(certs / "receiver.pem", certs / "receiver.key", failures=2)
    found.start()
    yield found
    found.stop()


@pytest.fixture(params=MODES)
def server(request: pytest.FixtureRequest, clean_db: str, tmp_path: Path,
           certs: Path) -> Iterator[Server]:
    srv = start_server(clean_db, tmp_path, leases=request.param, QUORRA_SHUTDOWN_GRACE="2s",
                       QUORRA_WEBHOOK_CA_FILE=str(certs / "ca.pem"),
                       QUORRA_WEBHOOK_TIMEOUT="5s")
    yield srv
    if srv.proc is not None:
        srv.stop()


@pytest.fixture
def workers(server: Server, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(server, tmp_path)
    yield pool
    for proc in pool.procs:
        stop_process(proc)


def subscribe(server: Server, receiver: Receiver) -> dict[str, Any]:
    with server.client() as client:
        answer = client.post("/v1/webhooks", json={
            "url": receiver.url, "events": ["job.succeeded", "job.dead"], "queue": "hooks*"})
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    assert made["secret"].startswith("whsec_")
    return made


def succeeded(server: Server, ids: list[str]) -> bool:
    with server.client() as client:
        return all(client.get(f"/v1/jobs/{i}").json()["status"] == "succeeded" for i in ids)


def test_a_refused_delivery_is_retried_across_a_restart_and_arrives_signed(
        server: Server, workers: Workers, receiver: Receiver, tmp_path: Path) -> None:
    hook = subscribe(server, receiver)
    workers.start("w1", QUORRA_WORKER_QUEUES="hooks.e2e,elsewhere",
                  QUORRA_WORKER_HANDLERS="tests.e2e.timeout_handlers", PYTHONPATH=str(ROOT),
                  **{RUNS_FILE_ENV: str(tmp_path / "runs.txt")})
    with server.client() as client:
        answer = client.post("/v1/jobs", json={"type": "quick", "queue": "hooks.e2e"})
        other = client.post("/v1/jobs", json={"type": "quick", "queue": "elsewhere"})
    assert answer.status_code == 201 and other.status_code == 201
    job_id = answer.json()["id"]

    (first,) = receiver.wait_for(1, timeout=30)
    assert first.status == 500
    wait_until(lambda: succeeded(server, [job_id, other.json()["id"]]), timeout=30,
               what="both jobs to succeed")
    for proc in workers.procs:  # the job is done: only the server matters from here on
        stop_process(proc)
    server.stop()
    server.start()  # same ports, same database (and Redis)

    attempts = receiver.wait_for(3, timeout=60)
    assert [a.status for a in attempts] == [500, 500, 200]
    delivery = {a.headers["Quorra-Delivery"] for a in attempts}
    assert len(delivery) == 1, "one delivery id across attempts"
    for number, attempt in enumerate(attempts, start=1):
        verify(attempt.body, attempt.headers["Quorra-Signature"], hook["secret"])
        body = json.loads(attempt.body)
        assert body["id"] == attempt.headers["Quorra-Delivery"]
        assert body["event"] == attempt.headers["Quorra-Event"] == "job.succeeded"
        assert body["webhook"] == hook["id"] and body["attempt"] == number
        assert body["job"]["id"] == job_id and body["job"]["status"] == "succeeded"
        assert body["job"]["queue"] == "hooks.e2e" and body["job"]["result"] == "ok"
        with pytest.raises(InvalidSignature):
            verify(attempt.body + b" ", attempt.headers["Quorra-Signature"], hook["secret"])
    # the normal backoff: 2 s after the first failure, 4 s after the second
    assert attempts[1].at - attempts[0].at >= 1.9 and attempts[2].at - attempts[1].at >= 3.9

    def delivered() -> dict[str, Any] | None:
        with server.client() as client:
            found = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"]
        return found[0] if found and found[0]["status"] == "succeeded" else None

    shown = wait_until(delivered, timeout=10, what="the delivery to be recorded as succeeded")
    assert shown is not None
    assert shown["id"] == delivery.pop() and shown["attempts"] == 3
    assert shown["response_status"] == 200 and shown["last_error"] == "HTTP 500"
    assert len(receiver.requests) == 3, "no delivery for the job of an unsubscribed queue"
    if "REDIS_URL" in server.env:  # deliveries lease from PostgreSQL: Redis never holds them
        store = redis.Redis.from_url(server.env["REDIS_URL"])
        try:
            assert list(store.scan_iter(match="*_quorra*")) == []
        finally:
            store.close()


def test_quorractl_webhooks(worker_server: Server) -> None:
    """``quorractl webhooks create/list/disable/enable/deliveries/delete`` against a real
    server: the secret is printed at creation only; bad input is an error naming the field."""
    def ctl(*args: str) -> Result:
        return CliRunner().invoke(main, ["--server", worker_server.http, "--api-key", API_KEY,
                                         *args], catch_exceptions=False)

    made = ctl("webhooks", "create", "https://hooks.example.com/in", "--event", "job.dead",
               "--event", "job.cancelled", "--queue", "billing.*")
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    (row,) = json.loads(ctl("--output", "json", "webhooks", "list").stdout)
    assert row["events"] == ["job.dead", "job.cancelled"] and row["queue"] == "billing.*"
    listed = ctl("webhooks")
    assert listed.exit_code == 0 and row["id"] in listed.stdout and secret not in listed.stdout
    assert ctl("webhooks", "disable", row["id"]).exit_code == 0
    assert json.loads(ctl("--output", "json", "webhooks", "list").stdout)[0]["enabled"] is False
    assert ctl("webhooks", "enable", row["id"]).exit_code == 0
    shown = ctl("webhooks", "deliveries", row["id"])
    assert shown.exit_code == 0 and "No deliveries." in shown.stdout
    bad = ctl("webhooks", "create", "http://hooks.example.com/in", "--event", "job.dead")
    assert bad.exit_code == 1 and "url" in bad.output
    assert ctl("webhooks", "delete", row["id"]).exit_code == 0
    assert ctl("webhooks", "delete", row["id"]).exit_code == 1
    assert json.loads(ctl("--output", "json", "webhooks", "list").stdout) == []
