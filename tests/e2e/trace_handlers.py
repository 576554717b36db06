"""Handlers of the tracing e2e test (``quorra-worker --handlers tests.e2e.trace_handlers``):
``flaky`` fails its first attempt and succeeds after, opening a span of its own each time (it
must nest under the worker's handler-run span)."""

from __future__ import annotations

from opentelemetry import trace

from quorra.worker import Job, handler

__all__ = ["flaky"]


@handler("flaky")
async def flaky(job: Job) -> dict[str, int]:
    with trace.get_tracer("tests.e2e.trace_handlers").start_as_current_span("handler-work"):
        if job.attempts == 1:
            raise RuntimeError("first attempt fails")
    return {"attempt": job.attempts}
