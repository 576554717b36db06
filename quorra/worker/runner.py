"""``Worker``: one batched ``Session`` stream to the server; handlers run with concurrency
``max_jobs`` while up to ``prefetch`` more jobs wait here for the next free slot (so a freed slot
never waits for a round trip to the server); settlements, credit and heartbeats go out in
batches; reconnects with backoff; drains on ``stop()``."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable
from typing import Any

import grpc

from quorra.channels import CLIENT_OPTIONS, open_channel
from quorra.core.keys import auth_metadata
from quorra.core.sizes import GRPC_DEFAULT_MESSAGE_BYTES
from quorra.core.tasks import report_failure, spawn
from quorra.core.waiting import wait_event
from quorra.rpc.batches import session_requests
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from quorra.worker.config import WorkerConfig
from quorra.worker.execute import Running, run_handler, stop_waiting
from quorra.worker.producer import bind as bind_producers
from quorra.worker.registry import Registry, default_registry
from quorra.worker.threads import HandlerThreads
from quorra.worker.window import Window

__all__ = ["MAX_MESSAGE_ITEMS", "SEND_BUDGET", "Worker", "WorkerStopped"]

log = logging.getLogger("quorra.worker")

_INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]
SEND_BUDGET = GRPC_DEFAULT_MESSAGE_BYTES  # what any gRPC server accepts by default
MAX_MESSAGE_ITEMS = 1000  # settlements + extensions per message (the server's default limit)
_FATAL = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
          grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.INVALID_ARGUMENT)


class WorkerStopped(Exception):
    """The worker cannot go on (e.g. the server refused its API key)."""


class Worker:
    def __init__(self, config: WorkerConfig, registry: Registry | None = None) -> None:
        self.config = config
        self.registry = registry or default_registry
        self.running: dict[str, Running] = {}
        self.settlements: list[pb.Settlement] = []
        self.extensions: list[pb.Extension] = []
        self.credit = 0  # jobs to ask for in the next message
        self.owed = 0  # jobs asked for that the server has not sent yet
        self.window = Window(config.max_jobs, config.prefetch_jobs)
        self.draining = False
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()  # something to send
        self.flushed = asyncio.Event()  # nothing left to send
        self.connected = asyncio.Event()
        self.executed = 0  # handlers finished (for tests and stats)
        self._tasks: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(config.max_jobs)  # handlers running at once
        # sync handlers run here: one thread per slot, so every slot can block at once, plus
        # as many spares for the threads of handlers that ran past their deadline (abandon)
        self.threads = HandlerThreads(2 * config.max_jobs)
        self.abandoned = 0  # threads still running a handler whose job timed out
        self.holding = 0  # of those, the ones that keep their slot until they return
        self._stub: pb_grpc.WorkerServiceStub | None = None
        self._write_closed = False

    def stop(self) -> None:
        """Stop leasing, let running jobs finish within the grace period, release the rest."""
        self.stopping.set()

    async def run(self) -> None:
        """Run until ``stop()``: reconnect with backoff whenever the session breaks."""
        producers = bind_producers(self.config)  # handlers' follow-up enqueues (producer())
        delay = 0.2
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                await self._session()
            except grpc.aio.AioRpcError as exc:
                if exc.code() in _FATAL:
                    raise WorkerStopped(f"{exc.code().name}: {exc.details()}") from None
                log.warning("session lost (%s: %s); reconnecting in %.1fs", exc.code().name,
                            exc.details(), delay)
            except (TimeoutError, grpc.aio.UsageError, OSError) as exc:
                log.warning("session failed (%r); reconnecting in %.1fs", exc, delay)
            except Exception as exc:  # a bug must not stop the worker for good
                report_failure("quorra-worker-session", exc, f"reconnecting in {delay:.1f}s")
            self.connected.clear()
            if self.stopping.is_set():
                break
            delay = 0.2 if time.monotonic() - started > 10 else min(delay * 2, 10.0)
            await wait_event(self.stopping, delay * random.uniform(0.8, 1.2))
        await self._abandon_rest()
        await producers.close()
        self.threads.shutdown()

    async def _session(self) -> None:
        metadata = auth_metadata(self.config.api_key)
        options = [*CLIENT_OPTIONS,
                   ("grpc.max_receive_message_length", self.config.max_message_bytes)]
        async with open_channel(self.config.grpc_addr, options, self.config.tls) as channel:
            self._stub = pb_grpc.WorkerServiceStub(channel)
            self._write_closed = False
            call = self._stub.Session(metadata=metadata)
            # the open message asks for every free slot; credit earned from now on is extra
            credit = 0 if self.draining else self.window.size() - len(self.running)
            self.credit, self.owed = 0, max(credit, 0)
            await call.write(pb.SessionRequest(open=pb.SessionOpen(
                worker_id=self.config.worker_id, queues=list(self.config.queues),
                lease_ttl_seconds=round(self.config.lease_ttl),
                max_message_bytes=self.config.max_message_bytes), credit=max(credit, 0)))
            await call.initial_metadata()
            self.connected.set()
            log.info("connected to %s as %s (queues: %s)", self.config.grpc_addr,
                     self.config.worker_id, ",".join(self.config.queues))
            await self._converse(call)

    async def _converse(self, call: Any) -> None:
        reader = asyncio.create_task(self._read(call))
        helpers = [asyncio.create_task(self._write(call)), asyncio.create_task(self._heartbeat())]
        stop = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait([reader, stop, *helpers], return_when=asyncio.FIRST_COMPLETED)
            if not (reader.done() or stop.done()):  # a failed writer or heartbeat: reconnect
                for helper in helpers:
                    if helper.done():
                        helper.result()
            if not reader.done():
                await self._drain(call)
                async with asyncio.timeout(10):
                    await reader
            reader.result()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=10)
        finally:
            for task in (reader, stop, *helpers):
                task.cancel()
            await asyncio.gather(reader, stop, *helpers, return_exceptions=True)

    async def _drain(self, call: Any) -> None:
        self.draining = True
        self._send()
        grace = self.config.shutdown_grace
        log.info("draining: %d running job(s), grace %.0fs", len(self.running), grace)
        for entry in list(self.running.values()):
            if not entry.started:  # prefetched, never run: released at once
                stop_waiting(self, entry)
        tasks = [entry.task for entry in self.running.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for entry in list(self.running.values()):
            entry.task.cancel()  # releases its job (see execute.run_handler)
        if tasks:
            await asyncio.wait(tasks)
        await self._flush()
        self._write_closed = True
        await call.done_writing()

    async def _flush(self) -> None:
        while self.settlements or self.extensions or self.credit:
            self.flushed.clear()
            self._send()
            async with asyncio.timeout(10):
                await self.flushed.wait()

    async def _read(self, call: Any) -> None:
        async for response in call:
            self.owed = max(self.owed - len(response.jobs), 0)
            for job in response.jobs:
                self._start(job)
            for outcome in response.settled:
                if outcome.code:
                    self._refused(outcome)
            for outcome in response.extended:
                self._extended(outcome)
            for cancellation in response.cancelled:
                self._cancelled(cancellation)

    def _cancelled(self, cancellation: pb.Cancellation) -> None:
        """The job was cancelled and its lease voided: stop its handler, settle nothing. An
        ``async def`` handler's task is cancelled now; a ``def`` handler sees ``job.cancelled``
        and its slot is freed when it returns (its thread is busy until then)."""
        entry = self.running.get(cancellation.job_id)
        if entry is None or entry.job.lease_id != cancellation.lease_id:
            return
        log.info("job %s (%s) was cancelled; stopping it", entry.job.id, entry.job.type)
        entry.lease_lost = True  # no more heartbeats
        entry.cancel_event.set()
        if not entry.started:  # prefetched: it never takes a slot
            stop_waiting(self, entry)
        elif entry.handler_task is not None:  # a def handler's thread cannot be stopped
            entry.handler_task.cancel()

    def _refused(self, outcome: pb.Outcome) -> None:
        log.warning("settling job %s failed: %s", outcome.job_id, outcome.message)
        if outcome.code == _INVALID and outcome.message.startswith("result:"):
            # the server refused the result (e.g. over its size limit): a failed attempt instead
            # (it carries no result, so it cannot be refused for that again)
            self.settle(pb.Settlement(job_id=outcome.job_id, lease_id=outcome.lease_id,
                                      success=False,
                                      error_message=f"result refused: {outcome.message}"),
                        credit=False)

    def _start(self, job: pb.Job) -> None:
        if self.draining:
            if self._write_closed and self._stub is not None:
                # it crossed our half-close: give it back with a unary call
                stub: Any = self._stub
                self._spawn(stub.NackJob(
                    pb.JobAck(job_id=job.id, lease_id=job.lease_id, release=True,
                              worker_id=self.config.worker_id),
                    metadata=auth_metadata(self.config.api_key)))
            else:
                self.settle(pb.Settlement(job_id=job.id, lease_id=job.lease_id, release=True),
                            credit=False)
            return
        entry = Running(job)
        self.running[job.id] = entry
        entry.task = asyncio.create_task(run_handler(self, entry), name=f"job-{job.id}")

    def _spawn(self, call: Awaitable[object]) -> None:
        async def run() -> None:
            try:
                await call
            except grpc.aio.AioRpcError as exc:
                log.warning("releasing a job failed: %s", exc.details())

        spawn("quorra-worker-release", run(), keep=self._tasks)

    def _extended(self, outcome: pb.Outcome) -> None:
        entry = self.running.get(outcome.job_id)
        if entry is None or entry.job.lease_id != outcome.lease_id:
            return
        if outcome.code:
            log.warning("lease of job %s lost (%s); cancelling it", outcome.job_id,
                        outcome.message)
            entry.lease_lost = True
            entry.cancel_event.set()  # a def handler polling job.cancelled stops too
            entry.task.cancel()

    def settle(self, settlement: pb.Settlement, *, credit: bool = True) -> None:
        """Queue a settlement (and a credit for the freed slot) for the next batch."""
        self.settlements.append(settlement)
        if credit:
            self.free_slot()
        self._send()

    def free_slot(self) -> None:
        """A job left: ask for as many as the window now lacks (none when draining)."""
        if self.draining or self.stopping.is_set():
            return
        held = len(self.running) + self.holding + self.owed + self.credit
        lacking = self.window.size() - held
        if lacking > 0 and self.window.worth_asking(lacking, held):
            self.credit += lacking
            self._send()

    def abandon(self, thread: asyncio.Future[Any]) -> bool:
        """A ``def`` handler ran past its deadline and its thread runs on. While fewer such
        threads than ``max_jobs`` linger, the pool has a spare thread for it, so its slot is
        free at once (True); past that, the slot stays taken until the thread returns (False),
        so the pool never holds more than twice ``max_jobs`` threads and never loses a slot
        for good."""
        self.abandoned += 1
        spare = self.abandoned <= self.config.max_jobs
        self.holding += 0 if spare else 1

        def returned(future: asyncio.Future[Any]) -> None:
            if not future.cancelled():
                future.exception()  # retrieved: a late failure is of no one's concern now
            self.abandoned -= 1
            if not spare:
                self.holding -= 1
                self.slots.release()
                self.free_slot()

        thread.add_done_callback(returned)
        return spare

    def finished(self, entry: Running) -> None:
        self.running.pop(entry.job.id, None)
        self.executed += 1

    def _send(self) -> None:
        self.wake.set()

    async def _write(self, call: Any) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            await self._write_pending(call)
            if not (self.settlements or self.extensions or self.credit):
                self.flushed.set()

    async def _write_pending(self, call: Any) -> None:
        """What is queued, in messages of at most ``SEND_BUDGET`` bytes (many large results
        must not pass the server's receive limit) and ``MAX_MESSAGE_ITEMS`` items; at least one
        message (it may carry only credit or drain). What was not written is queued again."""
        settlements, extensions = self.settlements, self.extensions
        self.settlements, self.extensions = [], []
        parts = list(session_requests(settlements, extensions, SEND_BUDGET,
                                      MAX_MESSAGE_ITEMS)) or [([], [])]
        for index, (done, extended) in enumerate(parts):
            credit, self.credit = self.credit, 0
            self.owed += credit
            request = pb.SessionRequest(credit=credit, settlements=done, extensions=extended,
                                        drain=self.draining)
            try:
                await call.write(request)
            except BaseException:
                self.settlements[:0] = [item for part, _ in parts[index:] for item in part]
                self.extensions[:0] = [item for _, part in parts[index:] for item in part]
                self.credit += credit
                self.owed -= credit
                raise

    async def _heartbeat(self) -> None:
        every = max(self.config.lease_ttl / 3, 0.5)
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for entry in self.running.values():
                if now - entry.extended_at >= every * 0.9 and not entry.lease_lost:
                    entry.extended_at = now
                    self.extensions.append(pb.Extension(
                        job_id=entry.job.id, lease_id=entry.job.lease_id,
                        lease_ttl_seconds=round(self.config.lease_ttl)))
            if self.extensions:
                self._send()

    async def _abandon_rest(self) -> None:
        """After the last session: handlers still running have no way to report; cancel them
        (their leases expire on the server and the jobs are retried)."""
        for entry in list(self.running.values()):
            entry.task.cancel()
        if self.running:
            await asyncio.wait([entry.task for entry in self.running.values()])
