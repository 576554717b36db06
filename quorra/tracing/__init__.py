"""OpenTelemetry traces of jobs (README "Tracing"): the producer's W3C ``traceparent`` travels
with the job, and the server's enqueue and queued spans and the worker's handler-run spans join
its trace. Built on the OpenTelemetry API only; the SDK and exporters (the ``otel`` extra) are
set up by ``quorra.tracing.setup`` when tracing is turned on, else every span call is skipped."""

from __future__ import annotations

from quorra.tracing.context import active, context_of, current_traceparent, trace_metadata

__all__ = ["active", "context_of", "current_traceparent", "trace_metadata"]
