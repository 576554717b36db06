"""The worker SDK's span of one handler run, ``quorra.run``: a child of the producer's span
(the job's ``traceparent``), or a root span for a job without one, current while the handler
runs (its own spans nest under it, in a ``def`` handler's thread too). Its attributes name
the job, its type, queue and attempt; an exception the handler raised (a time limit too) is
recorded and sets the status to error. Each attempt, so each retry, is its own span of the same
trace. Nothing at all while tracing is off (``quorra.tracing.active``)."""

from __future__ import annotations

import contextlib
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.tracing.context import NOT_TRACED, active, context_of
from quorra.tracing.spans import job_attributes

__all__ = ["run_span"]


def run_span(message: pb.Job) -> contextlib.AbstractContextManager[Any]:
    if not active():
        return NOT_TRACED
    tracer = trace.get_tracer("quorra.worker")
    return tracer.start_as_current_span(
        "quorra.run", context=context_of(message.traceparent or None), kind=SpanKind.CONSUMER,
        record_exception=True, set_status_on_exception=True,
        attributes=job_attributes(message.id, message.type, message.queue, message.attempts))
