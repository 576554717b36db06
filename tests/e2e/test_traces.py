"""OpenTelemetry traces across real processes, in each mode (Postgres-only, Redis ``grant`` and
Redis ``stream`` leases): ``quorra.Client.enqueue`` inside a test span goes through a real
``quorra-server`` to a real ``quorra-worker`` whose handler fails once, then succeeds. Server and
worker export their spans to JSON-lines files (``QUORRA_TRACES_FILE``), read here: one trace,
from the client's span through the server's enqueue and queued spans to both handler runs, each
a child of the client's span, the failed one recorded as an error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import quorra
from tests.e2e.worker_processes import API_KEY, Server, Workers, start_server, stop_process
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
MODES = ["postgres", "grant", "stream"]


@pytest.fixture(params=MODES)
def server(request: pytest.FixtureRequest, clean_db: str, tmp_path: Path) -> Iterator[Server]:
    srv = start_server(clean_db, tmp_path, leases=request.param,
                       QUORRA_TRACES_FILE=str(tmp_path / "server-spans.jsonl"))
    yield srv
    srv.stop()


@pytest.fixture
def worker(server: Server, tmp_path: Path) -> Iterator[Path]:
    spans = tmp_path / "worker-spans.jsonl"
    pool = Workers(server, tmp_path)
    pool.start("traced", QUORRA_WORKER_HANDLERS="tests.e2e.trace_handlers",
               QUORRA_WORKER_QUEUES="traced", QUORRA_TRACES_FILE=str(spans),
               OTEL_SERVICE_NAME="traced-worker", PYTHONPATH=str(ROOT))
    yield spans
    for proc in pool.procs:
        stop_process(proc)


def spans_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def job_status(server: Server, job_id: str) -> dict[str, Any]:
    with server.client() as client:
        answer = client.get(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_one_trace_from_the_client_through_both_handler_runs(
        server: Server, worker: Path, tmp_path: Path) -> None:
    tracer = TracerProvider().get_tracer("tests.e2e.test_traces")  # this process only
    with tracer.start_as_current_span("produce") as produce, \
            quorra.Client(server.grpc, api_key=API_KEY) as client:
        done = client.enqueue("flaky", {"n": 1}, queue="traced")
    context = produce.get_span_context()
    trace_id, client_span = f"{context.trace_id:032x}", f"{context.span_id:016x}"
    wait_until(lambda: job_status(server, done.id)["status"] == "succeeded", timeout=30,
               what="the flaky job to succeed on its second attempt")
    flags = f"{int(context.trace_flags):02x}"
    assert job_status(server, done.id)["traceparent"] == f"00-{trace_id}-{client_span}-{flags}"
    # spans are written as they end: the worker's before it settles, the server's before it
    # answers (enqueue) or hands the job out (queued), so all are there by now
    server_spans = spans_in(tmp_path / "server-spans.jsonl")
    (enqueue,) = [s for s in server_spans if s["name"] == "quorra.enqueue"]
    queued = sorted((s for s in server_spans if s["name"] == "quorra.queued"),
                    key=lambda s: s["attributes"]["quorra.job.attempt"])
    runs = sorted((s for s in spans_in(worker) if s["name"] == "quorra.run"),
                  key=lambda s: s["attributes"]["quorra.job.attempt"])
    assert len(queued) == 2 and len(runs) == 2, (server_spans, spans_in(worker))
    for span in (enqueue, *queued, *runs):
        assert span["trace_id"] == trace_id and span["parent_span_id"] == client_span, span
        assert span["attributes"]["quorra.job.id"] == done.id
        assert span["attributes"]["quorra.job.type"] == "flaky"
        assert span["attributes"]["quorra.queue"] == "traced"
    assert enqueue["service"] == "quorra-server" and runs[0]["service"] == "traced-worker"
    assert [s["attributes"]["quorra.job.attempt"] for s in runs] == [1, 2]
    assert [s["attributes"]["quorra.job.attempt"] for s in queued] == [1, 2]
    assert len({s["span_id"] for s in runs}) == 2  # each attempt its own span
    failed, succeeded = runs
    assert failed["status"] == "ERROR" and succeeded["status"] != "ERROR"
    (exception,) = [e for e in failed["events"] if e["name"] == "exception"]
    assert exception["attributes"]["exception.message"] == "first attempt fails"
    assert not [e for e in succeeded["events"] if e["name"] == "exception"]
    # the handler's own spans nest under the run they belong to
    work = [s for s in spans_in(worker) if s["name"] == "handler-work"]
    assert sorted(s["parent_span_id"] for s in work) == sorted(s["span_id"] for s in runs)
    assert enqueue["start"] <= queued[0]["end"] + 50_000_000  # two clocks: 50 ms slack
    assert queued[1]["start"] >= queued[0]["end"]
