"""Between W3C ``traceparent`` text and OpenTelemetry contexts, with the API alone.

``active()`` says whether an SDK tracer provider is installed (by ``quorra.tracing.setup``, or by
the application embedding a worker or client); without one Quorra starts no span at all, so
tracing that is off costs a type check per job."""

from __future__ import annotations

import contextlib

from opentelemetry import context as otel_context
from opentelemetry import trace

__all__ = ["NOT_TRACED", "active", "context_of", "current_traceparent", "trace_metadata"]

_INACTIVE = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_UNKNOWN = object()
NOT_TRACED = contextlib.nullcontext()  # what span helpers return while tracing is off


def active() -> bool:
    """True once a real tracer provider is installed (tracing is on). Reads the API's global
    directly: ``get_tracer_provider()`` looks at the environment on every call while none is
    set, ~1 us, more than all the rest tracing that is off costs per job."""
    provider = getattr(trace, "_TRACER_PROVIDER", _UNKNOWN)
    if provider is _UNKNOWN:  # an API without that global: the public way
        provider = trace.get_tracer_provider()
    return provider is not None and not isinstance(provider, _INACTIVE)


def current_traceparent() -> str | None:
    """The current span's context as a version-00 ``traceparent``; None outside any span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return (f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
            f"{int(span_context.trace_flags):02x}")


def trace_metadata() -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying the current span's ``traceparent`` (empty outside any span)."""
    traceparent = current_traceparent()
    return (("traceparent", traceparent),) if traceparent is not None else ()


def context_of(traceparent: str | None) -> otel_context.Context | None:
    """A context whose (remote) parent is ``traceparent``, as stored (version-00 form, checked
    on the way in); None for None or a malformed value."""
    if traceparent is None or len(traceparent) != 55:
        return None
    try:
        trace_id, span_id, flags = (int(part, 16) for part in traceparent.split("-")[1:])
    except ValueError:
        return None
    parent = trace.SpanContext(trace_id, span_id, is_remote=True,
                               trace_flags=trace.TraceFlags(flags & 0xFF))
    if not parent.is_valid:
        return None
    return trace.set_span_in_context(trace.NonRecordingSpan(parent), otel_context.Context())
