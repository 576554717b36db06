"""What tracing that is off costs per job (README "Tracing"): the calls Quorra added on the
enqueue path (the request's traceparent given to its jobs, the enqueue span, the queued spans)
and on the worker's handler path (the run span), timed against the same work without them.

    python bench/tracing_overhead.py [--loops N]

Prints nanoseconds per job for each call, off (no SDK installed: the default) and, for
reference, on (an SDK provider with no exporter)."""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from quorra.core.jobs import Job, JobSpec, JobStatus
from quorra.core.spec import Limits, decode_enqueue
from quorra.core.traceparent import inherit_traceparent
from quorra.rpc.convert import job_to_pb
from quorra.tracing.context import trace_metadata
from quorra.tracing.spans import enqueue_span, queued_spans
from quorra.worker.execute import to_job
from quorra.worker.tracing import run_span

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def per_call_ns(traced: Callable[[], object], plain: Callable[[], object],
                loops: int) -> tuple[float, float]:
    """The best of 9 rounds of each, the two taking turns (a shared machine's noise hits
    both alike)."""
    best = [float("inf"), float("inf")]
    for _ in range(9):
        for index, work in enumerate((traced, plain)):
            began = time.perf_counter_ns()
            for _ in range(loops):
                work()
            best[index] = min(best[index], (time.perf_counter_ns() - began) / loops)
    return best[0], best[1]


def cases() -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """name -> (the work with the tracing call, the same work without it)."""
    body = b'{"type": "email_send", "payload": {"to": "a@example.com"}}'
    spec = JobSpec(id=uuid.uuid4(), type="t", payload=b"{}", traceparent=TRACEPARENT)
    now = datetime.now(UTC)
    job = Job(id=spec.id, type="t", payload={"to": "a"}, queue="default", priority=0,
              status=JobStatus.LEASED, attempts=1, max_retries=3, last_error=None, result=None,
              run_at=now, created_at=now, updated_at=now, leased_at=now,
              lease_id=uuid.uuid4(), traceparent=TRACEPARENT)
    message = job_to_pb(job)

    def decode() -> object:
        return decode_enqueue(body, Limits())

    def enqueue_traced() -> object:
        specs = inherit_traceparent([decode_enqueue(body, Limits())], None)
        with enqueue_span(specs):
            queued_spans([job])
        return specs

    def handler() -> object:
        return to_job(message)

    def handler_traced() -> object:
        with run_span(message):
            return to_job(message)

    return {"enqueue (decode + header + enqueue/queued spans)": (enqueue_traced, decode),
            "handler run (to_job + run span)": (handler_traced, handler),
            "client call metadata": (trace_metadata, lambda: ())}


def report(title: str, loops: int) -> None:
    print(title)
    for name, (traced, plain) in cases().items():
        with_ns, without_ns = per_call_ns(traced, plain, loops)
        print(f"  {name:50s} {with_ns:8.0f} ns vs {without_ns:8.0f} ns: "
              f"+{with_ns - without_ns:6.0f} ns/job")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loops", type=int, default=100_000)
    loops = parser.parse_args().loops
    report("tracing off (the default):", loops)
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    trace.set_tracer_provider(TracerProvider())  # on, spans made and dropped (no exporter)
    report("tracing on, no exporter (reference):", max(loops // 10, 1000))


if __name__ == "__main__":
    main()
