"""``AsyncClient``: the asyncio producer client over one reused gRPC channel.

Every job carries an id chosen here, so a call that failed as unavailable is sent again, with
the same ids, until ``retry_for`` runs out: the server stores an id once, so a retry after a
lost answer never makes a second job. ``enqueue_many`` sends ``batch_size`` jobs per message
with ``concurrency`` messages in flight; each message is stored all or none."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import grpc

from quorra.channels import open_channel
from quorra.client.batching import Chunk, chunks
from quorra.client.config import CHANNEL_OPTIONS, ClientConfig
from quorra.client.errors import ClientError, error_from
from quorra.client.types import Enqueued, JobInfo, NewJob, enqueued_from_pb, info_from_pb, to_pb
from quorra.core.keys import auth_metadata
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from quorra.tracing.context import trace_metadata

__all__ = ["AsyncClient", "JobInput"]

T = TypeVar("T")
JobInput = NewJob | Mapping[str, Any]
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class AsyncClient:
    """Enqueue and look up jobs from asyncio code. Configured by arguments, else
    ``QUORRA_GRPC_ADDR`` (or ``QUORRA_URL``'s host) and ``QUORRA_API_KEY``::

        async with quorra.AsyncClient() as client:
            done = await client.enqueue("email_send", {"to": "a@example.com"})
            ids = [d.id for d in await client.enqueue_many(jobs)]
    """

    def __init__(self, target: str | None = None, *, api_key: str | None = None,
                 timeout: float = 10.0, retry_for: float = 5.0, batch_size: int = 500,
                 concurrency: int = 4, env: Mapping[str, str] | None = None) -> None:
        self.config = ClientConfig.resolve(target, api_key, env, timeout=timeout,
                                           retry_for=retry_for, batch_size=batch_size,
                                           concurrency=concurrency)
        self._metadata = auth_metadata(self.config.api_key)
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.WorkerServiceStub | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel, self._stub = self._channel, None, None
            await channel.close()

    def _service(self) -> pb_grpc.WorkerServiceStub:
        if self._stub is None:  # made in the running loop, on first use; reused after
            self._channel = open_channel(self.config.target, CHANNEL_OPTIONS, self.config.tls)
            self._stub = pb_grpc.WorkerServiceStub(self._channel)
        return self._stub

    async def enqueue(self, type: str, payload: Mapping[str, Any] | None = None, *,
                      queue: str | None = None, priority: int | None = None,
                      delay: float | None = None, run_at: datetime | None = None,
                      max_retries: int | None = None, id: str | None = None,
                      timeout: float | None = None, unique_key: str | None = None,
                      unique_for: float | None = None,
                      depends_on: Sequence[str] = (), traceparent: str | None = None
                      ) -> Enqueued:
        """Store one job; returns once it is committed (its id, status and run_at).
        ``timeout``: each attempt's time limit in seconds (unset: the server's default). With
        ``unique_key`` held in the queue, stores nothing and returns the job holding it
        (``duplicate`` set). ``depends_on``: ids of jobs that must succeed first (the job is
        ``blocked`` until then; cancelled if one ends dead or cancelled). The call carries the
        current OpenTelemetry span's ``traceparent``, if any; ``traceparent`` overrides it."""
        job = NewJob(type, payload, queue=queue, priority=priority, delay=delay, run_at=run_at,
                     max_retries=max_retries, id=id, timeout=timeout, unique_key=unique_key,
                     unique_for=unique_for, depends_on=tuple(depends_on),
                     traceparent=traceparent)
        request = pb.EnqueueJobsRequest(jobs=[to_pb(job)])
        answer = await self._call(lambda s, **kw: s.EnqueueJobs(request, **kw), ("", 0))
        return enqueued_from_pb(answer.jobs[0])

    async def enqueue_many(self, jobs: Iterable[JobInput] | AsyncIterable[JobInput]
                           ) -> list[Enqueued]:
        """Store any number of jobs, many per message; returns them in the order given.
        Not atomic as a whole: on an error, ``error.enqueued`` lists the jobs stored."""
        results: dict[int, list[Enqueued]] = {}
        pending: set[asyncio.Task[None]] = set()
        failure: ClientError | None = None
        try:
            async for chunk in chunks(jobs, self.config.batch_size):
                # a message with dependents goes once the earlier ones are stored (its parents
                # may be among them)
                limit = 1 if any(spec.depends_on for spec in chunk.specs) else \
                    self.config.concurrency
                while len(pending) >= limit and failure is None:
                    done, pending = await asyncio.wait(pending,
                                                       return_when=asyncio.FIRST_COMPLETED)
                    failure = _first_error(done)
                if failure is not None:
                    break
                pending.add(asyncio.create_task(self._send(chunk, results)))
        except ClientError as exc:  # a job refused before sending: what is in flight lands
            failure = exc
        except BaseException:  # the caller's iterable failed, or the call was cancelled
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            raise
        if pending:
            failure = failure or _first_error((await asyncio.wait(pending))[0])
        stored = [item for index in sorted(results) for item in results[index]]
        if failure is not None:
            failure.enqueued = stored
            raise failure
        return stored

    async def _send(self, chunk: Chunk, results: dict[int, list[Enqueued]]) -> None:
        request = pb.EnqueueJobsRequest(jobs=chunk.specs)
        answer = await self._call(lambda s, **kw: s.EnqueueJobs(request, **kw),
                                  ("jobs", chunk.offset))
        results[chunk.index] = [enqueued_from_pb(item) for item in answer.jobs]

    async def get(self, job_id: str) -> JobInfo:
        """The job as stored now; ``NotFound`` if there is none."""
        request = pb.GetJobRequest(id=str(job_id))
        return info_from_pb(await self._call(lambda s, **kw: s.GetJob(request, **kw)))

    async def cancel(self, job_id: str) -> JobInfo:
        """Cancel a pending or running job (``POST /v1/jobs/{id}/cancel``): the job, now
        cancelled; idempotent (so safe to send again). ``NotFound`` if there is none,
        ``Conflict`` once it succeeded or is dead."""
        request = pb.CancelJobRequest(id=str(job_id))
        return info_from_pb(await self._call(lambda s, **kw: s.CancelJob(request, **kw)))

    async def _call(self, send: Callable[..., Awaitable[T]],
                    shift: tuple[str, int] | None = None) -> T:
        """One RPC, sent again while it fails as unavailable and ``retry_for`` lasts (every
        RPC here is safe to repeat: enqueues carry their ids)."""
        give_up = time.monotonic() + self.config.retry_for
        pause = 0.05
        while True:
            try:
                return await send(self._service(), metadata=self._metadata + trace_metadata(),
                                  timeout=self.config.timeout)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _RETRYABLE or time.monotonic() + pause > give_up:
                    raise error_from(exc, shift) from None
            await asyncio.sleep(pause * random.uniform(0.8, 1.2))  # backoff between attempts
            pause = min(pause * 2, 1.0)


def _first_error(done: set[asyncio.Task[None]]) -> ClientError | None:
    for task in done:
        exc = task.exception()
        if exc is not None:
            if isinstance(exc, ClientError):
                return exc
            raise exc
    return None
