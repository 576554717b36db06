"""Scoped keys with real processes: ``quorractl keys``, a ``worker``-role key running a real
``quorra-worker`` on its queue (and refused another), revocation seen by a second replica within
the bound, and throttling (429 / RESOURCE_EXHAUSTED, then recovery)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from click.testing import CliRunner, Result

from quorra.cli import main
from quorra.keys import REVOCATION_BOUND
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.e2e.test_workers import counts
from tests.e2e.worker_processes import API_KEY, Server, Workers, stop_process
from tests.support import free_port, wait_until


def ctl(server: Server, *args: str, key: str = API_KEY) -> Result:
    return CliRunner().invoke(main, ["--server", server.http, "--api-key", key, *args],
                              catch_exceptions=False)


def create_key(server: Server, name: str, role: str, *queues: str) -> tuple[str, str]:
    flags = [arg for queue in queues for arg in ("--queue", queue)]
    result = ctl(server, "--output", "json", "keys", "create", name, "--role", role, *flags)
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    return made["id"], made["key"]


def test_quorractl_keys_create_list_revoke(worker_server: Server) -> None:
    result = ctl(worker_server, "keys", "create", "deploy bot", "--role", "producer",
                 "--queue", "orders*")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("qk_")
    listed = ctl(worker_server, "keys", "list")
    assert listed.exit_code == 0 and "deploy bot" in listed.stdout and "orders*" in listed.stdout
    assert secret not in listed.stdout
    (row,) = json.loads(ctl(worker_server, "--output", "json", "keys", "list").stdout)
    with httpx.Client(base_url=worker_server.http, headers={"X-API-Key": secret}) as producer:
        assert producer.post("/v1/jobs", json={"type": "t", "queue": "orders"}).status_code == 201
        assert producer.post("/v1/jobs", json={"type": "t", "queue": "mail"}).status_code == 403
    denied = ctl(worker_server, "keys", "list", key=secret)
    assert denied.exit_code == 1
    assert ctl(worker_server, "keys", "revoke", row["id"]).exit_code == 0
    with httpx.Client(base_url=worker_server.http, headers={"X-API-Key": secret}) as producer:
        assert producer.post("/v1/jobs", json={"type": "t", "queue": "orders"}).status_code == 401


def test_a_worker_key_runs_its_queue_and_is_refused_another(
        clean_db: str, worker_server: Server, workers: Workers) -> None:
    _, secret = create_key(worker_server, "mail workers", "worker", "mail")
    _, producer = create_key(worker_server, "mail producer", "producer", "mail")
    with httpx.Client(base_url=worker_server.http, headers={"X-API-Key": producer}) as client:
        for n in range(5):
            made = client.post("/v1/jobs", json={"type": "test_job", "queue": "mail",
                                                 "payload": {"n": n}})
            assert made.status_code == 201
    workers.start("mailer", QUORRA_API_KEY=secret, QUORRA_WORKER_QUEUES="mail")
    wait_until(lambda: counts(clean_db).get("succeeded") == 5, timeout=30,
               what="the worker-role key's worker to run its queue")
    outsider = workers.start("outsider", QUORRA_API_KEY=secret,
                             QUORRA_WORKER_QUEUES="billing")
    assert outsider.wait(15) == 1
    assert "PERMISSION_DENIED" in workers.log("outsider")


@pytest.fixture
def second_replica(worker_server: Server, tmp_path: Path) -> Iterator[Server]:
    env = {**worker_server.env, "QUORRA_HTTP_ADDR": f"127.0.0.1:{free_port()}",
           "QUORRA_GRPC_ADDR": f"127.0.0.1:{free_port()}"}
    http = f"http://{env['QUORRA_HTTP_ADDR']}"
    other = Server(env, http, env["QUORRA_GRPC_ADDR"], tmp_path / "replica2.log")
    other.start()
    yield other
    if other.proc is not None:
        stop_process(other.proc)


def test_revocation_reaches_a_second_replica_within_the_bound(
        worker_server: Server, second_replica: Server) -> None:
    key_id, secret = create_key(worker_server, "ops", "operator")

    def status_on_second() -> int:
        with httpx.Client(base_url=second_replica.http, headers={"X-API-Key": secret}) as c:
            return c.get("/v1/queues").status_code

    wait_until(lambda: status_on_second() == 200, timeout=REVOCATION_BOUND,
               what="the second replica to accept the new key")
    assert ctl(worker_server, "keys", "revoke", key_id).exit_code == 0
    revoked_at = time.monotonic()
    wait_until(lambda: status_on_second() == 401, timeout=REVOCATION_BOUND,
               what="the second replica to refuse the revoked key")
    assert time.monotonic() - revoked_at < REVOCATION_BOUND


@pytest.fixture
def strict_server(clean_db: str, tmp_path: Path) -> Iterator[Server]:
    from tests.e2e.worker_processes import start_server

    server = start_server(clean_db, tmp_path, QUORRA_AUTH_FAILURE_LIMIT="3",
                          QUORRA_AUTH_FAILURE_WINDOW="2s")
    yield server
    server.stop()


def test_throttling_answers_429_and_resource_exhausted_then_recovers(
        strict_server: Server) -> None:
    bad = {"X-API-Key": "not-a-key-0123456789"}
    with httpx.Client(base_url=strict_server.http, timeout=5) as client:
        assert [client.get("/v1/queues", headers=bad).status_code for _ in range(3)] == [401] * 3
        throttled = client.get("/v1/queues", headers=bad)
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
        assert client.get("/v1/queues", headers={"X-API-Key": API_KEY}).status_code == 200
    with grpc.insecure_channel(strict_server.grpc) as channel:
        stub = pb_grpc.WorkerServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:  # the address is over its limit
            stub.GetJob(pb.GetJobRequest(id="x"), metadata=(("x-api-key", "bad"),))
        error = caught.value
        assert isinstance(error, grpc.Call)  # a blocking call raises its (ended) Call
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(error.trailing_metadata() or ())
        assert int(trailers["retry-after"]) >= 1
    time.sleep(2.2)
    with httpx.Client(base_url=strict_server.http, timeout=5) as client:
        assert client.get("/v1/queues", headers=bad).status_code == 401  # recovered
