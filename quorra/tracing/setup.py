"""Install the OpenTelemetry SDK's tracer provider as ``TracingConfig`` says (the ``otel``
extra: ``pip install 'quorra[otel]'``). Without a call here (tracing off) the API stays
no-op and Quorra starts no span."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import IO, Any

from opentelemetry import trace

from quorra.core.errors import ConfigError
from quorra.tracing.config import TracingConfig

__all__ = ["setup_tracing", "span_record"]

try:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
except ImportError:  # pragma: no cover - the otel extra is not installed
    _SDK = False
else:
    _SDK = True


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """One span as a JSON object (ids in lower-case hex, times in Unix nanoseconds)."""
    context = span.get_span_context()
    assert context is not None
    return {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "kind": span.kind.name,
        "start": span.start_time,
        "end": span.end_time,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})}
                   for e in span.events],
        "service": span.resource.attributes.get(SERVICE_NAME),
    }


if _SDK:
    class JsonLinesExporter(SpanExporter):
        """Appends each span as one line of JSON (``span_record``) to a file, flushed per
        batch: for tests and local debugging (``QUORRA_TRACES_FILE``)."""

        def __init__(self, path: str) -> None:
            self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115
            self._lock = threading.Lock()

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            lines = "".join(json.dumps(span_record(s), default=str) + "\n" for s in spans)
            with self._lock:
                self._file.write(lines)
                self._file.flush()
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            with self._lock:
                self._file.close()


def _otlp() -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ConfigError("OTEL_TRACES_EXPORTER", "otlp needs the OTLP exporter: "
                                                  "pip install 'quorra[otel]'") from None
    return OTLPSpanExporter()


def setup_tracing(config: TracingConfig) -> Any:
    """Install the SDK's tracer provider when tracing is on; returns it (None when off), for a
    ``shutdown()`` that exports what is left."""
    if not config.enabled:
        return None
    if not _SDK:
        raise ConfigError("QUORRA_TRACING", "tracing needs the OpenTelemetry SDK: "
                                            "pip install 'quorra[otel]'")
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: config.service_name}))
    for name in config.exporters:
        exporter = _otlp() if name == "otlp" else ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if config.file is not None:
        try:
            provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(config.file)))
        except OSError as exc:
            raise ConfigError("QUORRA_TRACES_FILE", f"cannot open: {exc}") from None
    trace.set_tracer_provider(provider)
    return provider
