"""The long-running commands: ``enqueue-bulk`` (a stream of jobs in) and ``watch`` (one job's
life followed to its end)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, TextIO

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from quorra.cli.bulk import (
    BadLine,
    Sender,
    count_jobs,
    grpc_sender,
    read_batches,
    rest_sender,
    send_all,
)
from quorra.cli.context import Ctl, InputError, pass_ctl
from quorra.cli.render import when
from quorra.cli.rest import ApiError
from quorra.core.errors import QuorraError

__all__ = ["enqueue_bulk", "watch"]

FINAL_STATUSES = frozenset({"succeeded", "dead", "cancelled"})


def _progress(ctl: Ctl, show: bool | None) -> Progress:
    enabled = ctl.render.err.is_terminal if show is None else show
    return Progress(TextColumn("[bold]enqueue"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:>8} jobs/s"), TimeElapsedColumn(),
                    console=ctl.render.err, disable=not enabled, transient=False)


class _Counter:
    def __init__(self) -> None:
        self.sent = 0
        self.started = time.monotonic()

    def add(self, count: int) -> None:
        self.sent += count

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.sent / max(self.seconds, 1e-6)


@click.command("enqueue-bulk")
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=500, show_default=True,
              help="Jobs per request (each batch is stored all or none).")
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Batches in flight at once.")
@click.option("--queue", help="Queue for lines that name none.")
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--via", type=click.Choice(["grpc", "rest"]), default="grpc", show_default=True,
              help="gRPC batch enqueue (retry-safe), or REST POST /v1/jobs/batch.")
@click.option("--grpc-addr", envvar="QUORRA_GRPC_ADDR", show_envvar=True,
              help="gRPC address for --via grpc (default: the --server host, port 50051).")
@pass_ctl
def enqueue_bulk(ctl: Ctl, source: TextIO, batch_size: int, concurrency: int,
                 queue: str | None, show_progress: bool | None, via: str,
                 grpc_addr: str | None) -> None:
    """Enqueue jobs from JSON lines (one job object per line) in SOURCE or stdin."""
    batches = read_batches(source, batch_size, {"queue": queue} if queue else {})
    total = count_jobs(source) if source.seekable() else None
    counter = _Counter()
    with contextlib.ExitStack() as stack:
        sender = _sender(stack, ctl, via, grpc_addr, batch_size)
        _send(ctl, batches, sender, concurrency, counter, show_progress, total)
    _report(ctl, counter)


def _sender(stack: contextlib.ExitStack, ctl: Ctl, via: str, grpc_addr: str | None,
            batch_size: int) -> Sender:
    if via == "rest":
        return rest_sender(stack.enter_context(ctl.client()))
    from quorra.client import Client as ProducerClient  # gRPC loads for this command only

    env = {"QUORRA_GRPC_ADDR": grpc_addr} if grpc_addr else {"QUORRA_URL": ctl.server}
    try:
        client = ProducerClient(api_key=ctl.api_key, timeout=ctl.timeout, env=env,
                                batch_size=batch_size, concurrency=1)
    except QuorraError as exc:
        raise InputError(str(exc)) from None
    return grpc_sender(stack.enter_context(client))


def _send(ctl: Ctl, batches: Iterator[list[dict[str, Any]]], sender: Sender, concurrency: int,
          counter: _Counter, show_progress: bool | None, total: int | None) -> None:
    with _progress(ctl, show_progress) as progress:
        task = progress.add_task("enqueue", total=total, rate="")

        def on_sent(count: int) -> None:
            counter.add(count)
            progress.update(task, advance=count, rate=f"{counter.rate:,.0f}")

        try:
            send_all(batches, sender, concurrency=concurrency, on_sent=on_sent)
        except BadLine as exc:
            raise InputError(f"{exc}; {counter.sent} jobs were enqueued before it") from None
        except (ApiError, QuorraError) as exc:
            raise click.ClickException(
                f"{exc.message}; {counter.sent} jobs were enqueued before it") from None


def _report(ctl: Ctl, counter: _Counter) -> None:
    if ctl.render.json_mode:
        ctl.render.json({"enqueued": counter.sent, "seconds": round(counter.seconds, 3),
                         "jobs_per_second": round(counter.rate, 1)})
    else:
        ctl.render.say(f"Enqueued {counter.sent} jobs in {counter.seconds:.2f}s "
                       f"({counter.rate:,.0f} jobs/s).")


def _change(ctl: Ctl, job: dict[str, Any]) -> None:
    if ctl.render.json_mode:
        ctl.render.json_line(job)
        return
    error = f"  last error: {job['last_error']}" if job.get("last_error") else ""
    ctl.render.say(f"{when(job.get('updated_at'))}  {job.get('status')}  "
                   f"attempts {job.get('attempts')}/{1 + int(job.get('max_retries', 0))}{error}")


@click.command()
@click.argument("job_id", metavar="ID")
@click.option("--timeout", type=click.FloatRange(min=0), default=300, show_default=True,
              help="Give up after this many seconds.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=0.5, show_default=True,
              help="Seconds between looks.")
@pass_ctl
def watch(ctl: Ctl, job_id: str, timeout: float, interval: float) -> None:
    """Follow a job until it finishes: exit 0 if it succeeded, 1 otherwise."""
    deadline = time.monotonic() + timeout
    seen: tuple[Any, ...] | None = None
    with ctl.client() as client:
        while True:
            job = client.get(job_id)
            state = (job.get("status"), job.get("attempts"), job.get("last_error"))
            if state != seen:
                _change(ctl, job)
                seen = state
            if job.get("status") in FINAL_STATUSES:
                break
            if time.monotonic() >= deadline:
                raise click.ClickException(
                    f"job {job_id} is still {job.get('status')} after {timeout:g}s")
            time.sleep(min(interval, max(deadline - time.monotonic(), 0)))
    if job.get("status") != "succeeded":
        raise click.ClickException(f"job {job_id} ended {job.get('status')}")
