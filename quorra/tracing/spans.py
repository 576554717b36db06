"""The server's spans of a job: ``quorra.enqueue`` (the store of a request's jobs, a child of
the producer's span) and ``quorra.queued`` (from enqueue, or from when a retry became due, to
the lease; drawn afterwards from the store's timestamps). Only jobs that carry a
``traceparent`` get spans, and only while tracing is on (``active()``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from quorra.core.jobs import Job, JobSpec
from quorra.tracing.context import NOT_TRACED, active, context_of

__all__ = ["JOB_ATTEMPT", "JOB_ID", "JOB_QUEUE", "JOB_TYPE", "enqueue_span", "job_attributes",
           "queued_spans"]

JOB_ID = "quorra.job.id"
JOB_TYPE = "quorra.job.type"
JOB_QUEUE = "quorra.queue"
JOB_ATTEMPT = "quorra.job.attempt"
JOB_COUNT = "quorra.job.count"
_SYSTEM = {"messaging.system": "quorra"}


def job_attributes(job_id: object, job_type: str, queue: str,
                   attempt: int | None = None) -> dict[str, str | int]:
    """The attributes every span of one job carries."""
    found: dict[str, str | int] = {**_SYSTEM, JOB_ID: str(job_id), JOB_TYPE: job_type,
                                   JOB_QUEUE: queue}
    if attempt is not None:
        found[JOB_ATTEMPT] = attempt
    return found


def _batch_attributes(specs: Sequence[JobSpec]) -> dict[str, str | int]:
    first = specs[0]
    found = job_attributes(first.id, first.type, first.queue)
    found[JOB_COUNT] = len(specs)
    return found


def enqueue_span(specs: Sequence[JobSpec]) -> contextlib.AbstractContextManager[None]:
    """One ``quorra.enqueue`` span per distinct producer context among ``specs``, around the
    store; an error is recorded on each. Nothing (a shared null context) while tracing is
    off."""
    return _enqueue_spans(specs) if active() else NOT_TRACED


@contextlib.contextmanager
def _enqueue_spans(specs: Sequence[JobSpec]) -> Iterator[None]:
    groups: dict[str, list[JobSpec]] = {}
    for spec in specs:
        if spec.traceparent is not None:
            groups.setdefault(spec.traceparent, []).append(spec)
    tracer = trace.get_tracer("quorra.server")
    spans = [tracer.start_span("quorra.enqueue", context=context_of(parent),
                               kind=SpanKind.SERVER, attributes=_batch_attributes(group))
             for parent, group in groups.items()]
    try:
        yield
    except Exception as exc:
        for span in spans:
            _failed(span, exc)
        raise
    finally:
        for span in spans:
            span.end()


def _failed(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def _ns(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000) * 1000


def queued_spans(jobs: Sequence[Job]) -> None:
    """A ``quorra.queued`` span per leased job with a traceparent: from its enqueue (first
    attempt) or its ``run_at`` (a retry, due after its backoff) to its lease."""
    if not active():
        return
    tracer = trace.get_tracer("quorra.server")
    for job in jobs:
        parent = context_of(job.traceparent)
        if parent is None or job.leased_at is None:
            continue
        began = job.created_at if job.attempts <= 1 else min(job.run_at, job.leased_at)
        span = tracer.start_span(
            "quorra.queued", context=parent, kind=SpanKind.INTERNAL, start_time=_ns(began),
            attributes=job_attributes(job.id, job.type, job.queue, job.attempts))
        span.end(end_time=_ns(max(job.leased_at, began)))
