"""What ``quorractl`` sends for the routes it shares with the dashboard (issue 5's contract),
checked against a recorded transport; the same commands run against a real server in
tests/e2e/test_quorractl.py once those routes exist there."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

import quorra.cli.context
from quorra.cli import main
from quorra.cli.rest import RestClient

Handler = Callable[[httpx.Request], httpx.Response]
JOB = {"id": "j1", "type": "t", "queue": "q", "status": "pending", "priority": 0,
       "attempts": 0, "max_retries": 3, "created_at": "2026-01-01T00:00:00Z", "payload": {}}


@pytest.fixture
def seen() -> list[httpx.Request]:
    return []


def run(monkeypatch: pytest.MonkeyPatch, seen: list[httpx.Request], handler: Handler,
        *args: str) -> Result:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    def client(server: str, api_key: str, *, timeout: float = 10.0,
               ca_cert: str | None = None) -> RestClient:
        return RestClient(server, api_key, timeout=timeout, transport=httpx.MockTransport(record),
                      ca_cert=ca_cert)

    monkeypatch.setattr(quorra.cli.context, "RestClient", client)
    return CliRunner().invoke(main, ["--server", "http://quorra.test", "--api-key", "k", *args])


def answer(status: int, body: Any = None) -> Handler:
    return lambda _: httpx.Response(status, json=body) if body is not None else httpx.Response(
        status)


def test_list_sends_the_filters(monkeypatch: pytest.MonkeyPatch,
                                seen: list[httpx.Request]) -> None:
    result = run(monkeypatch, seen, answer(200, {"jobs": [JOB], "next_cursor": "c2"}),
                 "list", "--queue", "q", "--status", "dead", "--type", "t", "--limit", "5",
                 "--cursor", "c1")
    assert result.exit_code == 0, result.output
    request = seen[0]
    assert request.method == "GET" and request.url.path == "/v1/jobs"
    assert dict(request.url.params) == {"queue": "q", "status": "dead", "type": "t",
                                        "limit": "5", "cursor": "c1"}
    assert request.headers["X-API-Key"] == "k"
    assert "j1" in result.stdout and "--cursor c2" in result.stderr


def test_list_sends_the_search_terms(monkeypatch: pytest.MonkeyPatch,
                                     seen: list[httpx.Request]) -> None:
    result = run(monkeypatch, seen, answer(200, {"jobs": [JOB], "next_cursor": None}),
                 "list", "--payload", '{"user": 42}', "--id-prefix", "01a2")
    assert result.exit_code == 0, result.output
    assert dict(seen[0].url.params) == {"payload": '{"user": 42}', "id_prefix": "01a2",
                                        "limit": "50"}


def test_retry_delete_replay_and_workers_routes(monkeypatch: pytest.MonkeyPatch,
                                                seen: list[httpx.Request]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        routes = {("POST", "/v1/jobs/a%2Fb/retry"): (200, JOB),
                  ("DELETE", "/v1/jobs/j1"): (204, None),
                  ("POST", "/v1/queues/q/retry-dead"): (200, {"retried": 4}),
                  ("GET", "/v1/workers"): (200, {"workers": [
                      {"worker_id": "w1", "queues": ["q"], "in_flight": 2,
                       "connected_at": 1.7e9, "last_seen": 1.7e9}]})}
        status, body = routes[(request.method, request.url.raw_path.decode())]
        return answer(status, body)(request)

    assert run(monkeypatch, seen, handler, "retry", "a/b").exit_code == 0
    assert run(monkeypatch, seen, handler, "delete", "j1").exit_code == 0
    replayed = run(monkeypatch, seen, handler, "-o", "json", "dlq", "replay", "--queue", "q")
    assert json.loads(replayed.stdout) == {"retried": 4}
    workers = run(monkeypatch, seen, handler, "workers")
    assert "w1" in workers.stdout and "2" in workers.stdout


def test_conflict_shows_the_servers_message(monkeypatch: pytest.MonkeyPatch,
                                            seen: list[httpx.Request]) -> None:
    result = run(monkeypatch, seen, answer(409, {"error": "job is leased"}), "delete", "j1")
    assert result.exit_code == 1
    assert "job is leased (HTTP 409)" in result.stderr


def test_dlq_lists_dead_jobs(monkeypatch: pytest.MonkeyPatch,
                             seen: list[httpx.Request]) -> None:
    result = run(monkeypatch, seen, answer(200, {"jobs": [], "next_cursor": None}), "dlq")
    assert result.exit_code == 0 and "No jobs." in result.stdout
    assert dict(seen[0].url.params) == {"status": "dead", "limit": "50"}


def test_cancel_routes(monkeypatch: pytest.MonkeyPatch, seen: list[httpx.Request]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        routes = {("POST", "/v1/jobs/j1/cancel"): (200, {**JOB, "status": "cancelled"}),
                  ("POST", "/v1/jobs/cancel"): (200, {"cancelled": 7})}
        status, body = routes[(request.method, request.url.raw_path.decode())]
        return answer(status, body)(request)

    one = run(monkeypatch, seen, handler, "-o", "json", "cancel", "j1")
    assert one.exit_code == 0 and json.loads(one.stdout)["status"] == "cancelled"
    bulk = run(monkeypatch, seen, handler, "cancel", "--queue", "q", "--type", "t")
    assert bulk.exit_code == 0 and "Cancelled 7 job(s)." in bulk.stdout
    assert json.loads(seen[-1].content) == {"queue": "q", "type": "t"}
    assert run(monkeypatch, seen, handler, "cancel").exit_code == 2


def test_create_sends_the_time_limit(monkeypatch: pytest.MonkeyPatch,
                                     seen: list[httpx.Request]) -> None:
    created = {"id": "j1", "status": "pending", "run_at": "2026-01-01T00:00:00Z"}
    result = run(monkeypatch, seen, answer(201, created), "create", "t", "--timeout", "90")
    assert result.exit_code == 0, result.output
    assert json.loads(seen[0].content)["timeout_seconds"] == 90
    assert run(monkeypatch, seen, answer(201, created), "create", "t").exit_code == 0
    assert "timeout_seconds" not in json.loads(seen[1].content)
