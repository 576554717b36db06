"""``enqueue-bulk``: JSON lines in, batches out, several batches in flight.

The sending part is one function, ``Sender`` (a batch in, the number stored out): the gRPC batch
enqueue of the producer client by default, REST (``POST /v1/jobs/batch``) on request.
Each batch is all-or-none on the server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, TextIO

from quorra.cli.rest import RestClient

if TYPE_CHECKING:  # loaded by ``--via grpc`` only: other commands start without gRPC
    from quorra.client import Client as ProducerClient

__all__ = ["BadLine", "Sender", "count_jobs", "grpc_sender", "read_batches", "rest_sender",
           "send_all"]

Json = dict[str, Any]
Sender = Callable[[list[Json]], int]


class BadLine(Exception):
    def __init__(self, number: int, message: str) -> None:
        super().__init__(f"line {number}: {message}")
        self.number = number


def rest_sender(client: RestClient) -> Sender:
    """Send through ``POST /v1/jobs/batch``."""
    def send(jobs: list[Json]) -> int:
        return len(client.create_batch(jobs))
    return send


def grpc_sender(client: ProducerClient) -> Sender:
    """Send through the gRPC batch enqueue (``quorra.Client``): one message per batch, each
    job with its own id, so a batch retried after a lost answer is stored once."""
    def send(jobs: list[Json]) -> int:
        return len(client.enqueue_many(jobs))
    return send


def _parse(number: int, text: str, defaults: Json) -> Json:
    try:
        job = json.loads(text)
    except ValueError as exc:
        raise BadLine(number, f"not valid JSON ({exc})") from None
    if not isinstance(job, dict):
        raise BadLine(number, "expected a JSON object (one job per line)")
    return {**defaults, **job}


def read_batches(stream: TextIO, size: int, defaults: Json | None = None) -> Iterator[list[Json]]:
    """Jobs from JSON lines (blank lines skipped), ``size`` at a time."""
    batch: list[Json] = []
    for number, line in enumerate(stream, 1):
        if line.strip():
            batch.append(_parse(number, line, defaults or {}))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def count_jobs(stream: TextIO) -> int:
    """Non-blank lines (for the progress total), then rewind."""
    total = sum(1 for line in stream if line.strip())
    stream.seek(0)
    return total


def send_all(batches: Iterator[list[Json]], sender: Sender, *, concurrency: int,
             on_sent: Callable[[int], None]) -> None:
    """Send every batch with at most ``concurrency`` in flight; ``on_sent`` counts the stored.

    On a failure (of a batch or of the input) the batches in flight finish and are counted,
    then the first error propagates."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        inflight: set[Future[int]] = set()
        try:
            for batch in batches:
                while len(inflight) >= concurrency:
                    done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                    failure = _report(done, on_sent)
                    if failure is not None:
                        raise failure
                inflight.add(pool.submit(sender, batch))
        finally:
            late = _report(wait(inflight).done, on_sent)
    if late is not None:
        raise late


def _report(done: set[Future[int]], on_sent: Callable[[int], None]) -> BaseException | None:
    first_error: BaseException | None = None
    for future in done:
        error = future.exception()
        if error is None:
            on_sent(future.result())
        elif first_error is None:
            first_error = error
    return first_error
