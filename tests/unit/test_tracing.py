"""Tracing parts without services: ``traceparent`` checking and normal form, the request's
value given to jobs without one, contexts to and from ``traceparent``, the settings, the Redis
stream body (old bodies still read), and spans started only while tracing is on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from quorra.broker.redis import stream_index
from quorra.core.errors import ConfigError, InvalidInput
from quorra.core.jobs import JobSpec
from quorra.core.spec import Limits, decode_batch, decode_enqueue
from quorra.core.traceparent import check_traceparent, inherit_traceparent
from quorra.tracing.config import TracingConfig
from quorra.tracing.context import context_of, current_traceparent, trace_metadata

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
GOOD = f"00-{TRACE}-{PARENT}-01"


@pytest.mark.parametrize(("given", "stored"), [
    (GOOD, GOOD),
    (f"00-{TRACE}-{PARENT}-00", f"00-{TRACE}-{PARENT}-00"),
    (f"01-{TRACE}-{PARENT}-03", f"00-{TRACE}-{PARENT}-03"),
    (f"cc-{TRACE}-{PARENT}-01-what-the-future-holds", f"00-{TRACE}-{PARENT}-01"),
])
def test_valid_traceparents_in_normal_form(given: str, stored: str) -> None:
    assert check_traceparent(given) == stored


@pytest.mark.parametrize("bad", [
    "", "00", GOOD.upper(), GOOD[:-1], GOOD + "0", GOOD + "-", f"ff-{TRACE}-{PARENT}-01",
    f"00-{'0' * 32}-{PARENT}-01", f"00-{TRACE}-{'0' * 16}-01", f"00_{TRACE}_{PARENT}_01",
    f"00-{TRACE}-{PARENT}-0g", f"0x-{TRACE}-{PARENT}-01", f"00-{TRACE}-{PARENT}-01\n",
    f"01-{TRACE}-{PARENT}-01-" + "x" * 500, " " + GOOD,
])
def test_malformed_traceparents_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_traceparent(bad, "jobs[3].traceparent")
    assert info.value.field == "jobs[3].traceparent"


def test_rest_bodies_carry_a_checked_traceparent() -> None:
    assert decode_enqueue(msgspec.json.encode({"type": "t", "traceparent": GOOD}),
                          Limits()).traceparent == GOOD
    with pytest.raises(InvalidInput) as info:
        decode_batch(msgspec.json.encode({"jobs": [{"type": "t"}, {"type": "t",
                                                                   "traceparent": "x"}]}),
                     Limits())
    assert info.value.field == "jobs[1].traceparent"


def test_the_request_value_goes_to_jobs_without_their_own() -> None:
    own = f"00-{'1' * 32}-{'2' * 16}-00"
    specs = [JobSpec(id=uuid.uuid4(), type="t", payload=b"{}"),
             JobSpec(id=uuid.uuid4(), type="t", payload=b"{}", traceparent=own)]
    assert [s.traceparent for s in inherit_traceparent(specs, f" {GOOD} ")] == [GOOD, own]
    assert inherit_traceparent(specs, None) == specs
    with pytest.raises(InvalidInput) as info:
        inherit_traceparent(specs, "nope", "metadata traceparent")
    assert info.value.field == "metadata traceparent"


def test_contexts_to_and_from_traceparent() -> None:
    assert current_traceparent() is None and trace_metadata() == ()
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("outer", context=context_of(GOOD)) as span:
        assert span.get_span_context().trace_id == int(TRACE, 16)
        assert isinstance(span, ReadableSpan)  # the SDK's span, which knows its parent
        assert span.parent is not None and span.parent.span_id == int(PARENT, 16)
        mine = current_traceparent()
        assert mine is not None and mine.startswith(f"00-{TRACE}-")
        assert trace_metadata() == (("traceparent", mine),)
        assert check_traceparent(mine) == mine
    for bad in (None, "", "junk", f"00-{'0' * 32}-{PARENT}-01", f"00-{TRACE}-{PARENT}-zz"):
        assert context_of(bad) is None


@pytest.mark.parametrize(("env", "expected"), [
    ({}, TracingConfig(service_name="quorra-server")),
    ({"OTEL_TRACES_EXPORTER": "none"}, TracingConfig(service_name="quorra-server")),
    ({"QUORRA_TRACING": "on"}, TracingConfig(True, ("otlp",), None, "quorra-server")),
    ({"OTEL_TRACES_EXPORTER": "console,otlp", "OTEL_SERVICE_NAME": "api"},
     TracingConfig(True, ("console", "otlp"), None, "api")),
    ({"QUORRA_TRACES_FILE": "/tmp/s.jsonl"},
     TracingConfig(True, (), "/tmp/s.jsonl", "quorra-server")),
    ({"QUORRA_TRACES_FILE": "/tmp/s.jsonl", "QUORRA_TRACING": "off"},
     TracingConfig(service_name="quorra-server")),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"},
     TracingConfig(service_name="quorra-server")),
])
def test_tracing_settings(env: dict[str, str], expected: TracingConfig) -> None:
    assert TracingConfig.from_env("quorra-server", env) == expected


@pytest.mark.parametrize(("env", "variable"), [
    ({"QUORRA_TRACING": "maybe"}, "QUORRA_TRACING"),
    ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
])
def test_bad_tracing_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        TracingConfig.from_env("quorra-worker", env)
    assert info.value.variable == variable


def _leased(body: str) -> stream_index._Leased:
    raw = f'[["{uuid.uuid4()}", 1, "{uuid.uuid4()}", "1-0", {body}, 1000]]'
    (leased,) = stream_index._decode_leased(raw.encode())
    return leased


def test_stream_bodies_carry_the_traceparent_before_the_time_limit() -> None:
    now = datetime.now(UTC)
    body = stream_index.encode_body(type_="t", payload=b"{}", priority=0, attempts=0,
                                    max_retries=3, run_at=now, created_at=now, last_error=None,
                                    timeout=2.5, traceparent=GOOD)
    assert body.endswith(f'"{GOOD}",2500]')  # the scripts find the time limit last
    job = stream_index._job(_leased(body), "w", now, "q")
    assert (job.traceparent, job.timeout_seconds) == (GOOD, 2.5)
    plain = stream_index.encode_body(type_="t", payload=b"{}", priority=0, attempts=0,
                                     max_retries=3, run_at=now, created_at=now,
                                     last_error=None)
    job = stream_index._job(_leased(plain), "w", now, "q")
    assert (job.traceparent, job.timeout_seconds) == (None, None)


@pytest.mark.parametrize(("tail", "timeout"), [(",7000", 7.0), ("", None)])
def test_stream_bodies_of_earlier_releases_still_read(tail: str, timeout: float | None) -> None:
    us = int(datetime.now(UTC).timestamp() * 1e6)
    old = f'["t", {{}}, 0, 0, 3, {us}, {us}, null{tail}]'  # before traces (and time limits)
    job = stream_index._job(_leased(old), "w", datetime.now(UTC), "q")
    assert (job.traceparent, job.timeout_seconds) == (None, timeout)


def test_spans_only_while_tracing_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from quorra.core.jobs import Job, JobStatus
    from quorra.tracing.spans import enqueue_span, queued_spans

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spec = JobSpec(id=uuid.uuid4(), type="t", payload=b"{}", queue="q", traceparent=GOOD)
    now = datetime.now(UTC)
    job = Job(id=spec.id, type="t", payload={}, queue="q", priority=0, status=JobStatus.LEASED,
              attempts=2, max_retries=3, last_error=None, result=None,
              run_at=now - timedelta(seconds=2), created_at=now - timedelta(seconds=9),
              updated_at=now, leased_at=now, traceparent=GOOD)
    with enqueue_span([spec]):
        queued_spans([job])
    assert exporter.get_finished_spans() == ()  # off: the API's proxy provider
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)  # what active() reads
    monkeypatch.setattr("quorra.tracing.spans.trace.get_tracer", provider.get_tracer)
    with pytest.raises(RuntimeError), enqueue_span([spec]):
        raise RuntimeError("store down")
    queued_spans([job])
    enqueue, queued = exporter.get_finished_spans()
    assert enqueue.name == "quorra.enqueue" and not enqueue.status.is_ok
    assert enqueue.parent is not None and enqueue.parent.span_id == int(PARENT, 16)
    assert queued.name == "quorra.queued" and queued.attributes is not None
    assert queued.attributes["quorra.job.attempt"] == 2
    assert queued.end_time is not None and queued.start_time is not None
    assert (queued.end_time - queued.start_time) / 1e9 == pytest.approx(2, abs=0.01)  # a retry
