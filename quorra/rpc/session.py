"""The batched bidirectional ``Session``: the server sends jobs in batches as the worker's credit
allows (never waiting to fill a batch), the worker sends settlements and extensions in batches,
and each response message carries whatever is ready: new jobs and the outcomes of settlements.

Lifecycle: the first request opens the session; ``drain`` or the worker's half-close stops new
jobs; on server shutdown no new jobs go out and the session ends once the worker settled what it
holds (or after the grace period). Jobs leased but never written to the stream are released.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable
from typing import TYPE_CHECKING, Any

import grpc

from quorra.core.errors import InvalidInput, QuorraError
from quorra.core.jobs import Job
from quorra.core.spec import check_worker_id
from quorra.core.tasks import spawn
from quorra.core.waiting import wait_event
from quorra.rpc.auth import allow_queues, current_principal, job_message, tenant_queues
from quorra.rpc.batches import budget_of, session_responses
from quorra.rpc.convert import MAX_LEASE_BATCH, parse_id, parse_result, queues_of
from quorra.rpc.convert import timestamp as to_timestamp
from quorra.rpc.errors import status_of
from quorra.rpc.feed import Feed, first_of
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.settle import Settle, settle
from quorra.tenancy import jobs_for

if TYPE_CHECKING:
    from quorra.rpc.servicer import WorkerServicer

__all__ = ["Session"]

Context = grpc.aio.ServicerContext[Any, Any]
_LOST_CODE = grpc.StatusCode.FAILED_PRECONDITION.value[0]
MAX_SETTLING = 32  # a session's messages whose settlements are in flight at once
# a session's settled jobs being committed at once: past it, the session reads nothing more (so
# no new credit either) until commits catch up, so leases never run far ahead of the store
MAX_SETTLING_JOBS = 2000
PER_MESSAGE_CONCURRENCY = 8  # one message's single settlements/extensions run at once


async def _bounded(calls: Iterable[Awaitable[pb.Outcome]]) -> list[pb.Outcome]:
    """Await ``calls`` at most ``PER_MESSAGE_CONCURRENCY`` at a time, in order: one message's
    items must not queue hundreds of requests on the store's connection pool."""
    pending, outcomes = list(calls), []
    for start in range(0, len(pending), PER_MESSAGE_CONCURRENCY):
        outcomes += await asyncio.gather(*pending[start : start + PER_MESSAGE_CONCURRENCY])
    return outcomes


def _lease_of(item: pb.Settlement) -> uuid.UUID | None:
    try:
        return parse_id(item.lease_id, "lease_id")
    except InvalidInput:
        return None


def _outcome(job_id: str, lease_id: str, exc: Exception) -> pb.Outcome:
    message = exc.message if isinstance(exc, QuorraError) else "internal error"
    return pb.Outcome(job_id=job_id, lease_id=lease_id, code=status_of(exc).value[0],
                      message=message)


class Session:
    def __init__(self, host: WorkerServicer, requests: AsyncIterator[pb.SessionRequest],
                 context: Context, feed: Feed, budget: int) -> None:
        self.host = host
        self.budget = budget  # bytes per response message (the worker's announced limit)
        self.requests = requests
        self.context = context
        self.feed = feed
        self.key = uuid.uuid4().hex
        self.credit = 0
        self.in_flight = 0
        self.settling_jobs = 0  # of those, settled by the worker and being committed
        self.halt = asyncio.Event()  # no more jobs for this session
        self.credit_changed = asyncio.Event()
        self.ready = asyncio.Event()  # something to send, or the state changed
        self.reading_done = False
        self.failure: BaseException | None = None  # a task of the session failed: end it
        self.settling = asyncio.Semaphore(MAX_SETTLING)  # messages being settled at once
        self.committed = asyncio.Event()  # a message's settlements were committed
        self.settle_tasks: set[asyncio.Task[Any]] = set()
        self.jobs_out: list[Job] = []
        self.settled_out: list[pb.Outcome] = []
        self.extended_out: list[pb.Outcome] = []
        self.cancelled_out: list[pb.Cancellation] = []
        self.leases: set[uuid.UUID] = set()  # leases this session took and has not settled
        self.principal = current_principal.get()  # its tenant names the queues shown

    @classmethod
    async def open(cls, host: WorkerServicer, requests: AsyncIterator[pb.SessionRequest],
                   context: Context) -> Session:
        first = await anext(requests, None)
        if first is None or not first.HasField("open"):
            raise InvalidInput("open", "the first message of a session must open it")
        spec = first.open
        check_worker_id(spec.worker_id, "open.worker_id")
        queues = queues_of(spec.queues, limits=host.limits)
        allow_queues(queues)
        queues = tenant_queues(queues)
        feed = Feed(host.service, queues, worker_id=spec.worker_id,
                    ttl=float(spec.lease_ttl_seconds), stops=[host.stopping],
                    turns=host.turns)
        budget = budget_of(spec.max_message_bytes, host.max_message_bytes)
        session = cls(host, requests, context, feed, budget)
        feed.stops.append(session.halt)
        await session.apply(first)
        return session

    async def run(self) -> AsyncIterator[pb.SessionResponse]:
        host = self.host
        host.directory.connect(self.key, self.feed.worker_id, self.feed.queues,
                               self.context.peer())
        tasks = [spawn("quorra-session-read", self._read(), on_error=self._fail),
                 spawn("quorra-session-feed", self._feed(), on_error=self._fail),
                 spawn("quorra-session-shutdown", self._watch_shutdown(), on_error=self._fail)]
        try:
            async for response in self._write():
                yield response
        finally:
            self.halt.set()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.feed.close()
            host.forget_holder(self)
            await self.feed.give_back(self.jobs_out)
            host.directory.disconnect(self.key)

    async def _write(self) -> AsyncIterator[pb.SessionResponse]:
        deadline: float | None = None
        while True:
            if self.host.stopping.is_set() and deadline is None:
                deadline = time.monotonic() + self.host.session_grace
            if self._finished(deadline):
                return
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            await wait_event(self.ready, timeout)
            self.ready.clear()
            if isinstance(self.failure, InvalidInput):  # the worker broke a rule: say which
                await self.context.abort(status_of(self.failure), self.failure.message)
            if self.failure is not None:  # the worker reconnects and gets a working session
                await self.context.abort(grpc.StatusCode.UNAVAILABLE,
                                         "the server ended this session after an internal "
                                         "failure; reconnect")
            async with contextlib.aclosing(self._send_ready()) as responses:
                async for response in responses:  # closed at once if the call ends meanwhile
                    yield response

    async def _send_ready(self) -> AsyncGenerator[pb.SessionResponse, None]:
        """What is ready, in messages within the worker's size budget. Once halted (drain,
        half-close, shutdown), jobs not yet sent stay here and are released at the end."""
        halted = self.halt.is_set()
        if not ((self.jobs_out and not halted) or self.settled_out or self.extended_out
                or self.cancelled_out):
            return
        # never an alias of ``jobs_out``: the feed appends to it while these are written
        jobs, self.jobs_out = ([], self.jobs_out) if halted else (self.jobs_out, [])
        settled, extended = self.settled_out, self.extended_out
        cancelled, self.cancelled_out = self.cancelled_out, []
        self.settled_out, self.extended_out = [], []
        sent = 0
        try:
            for response in session_responses([job_message(job, self.principal)
                                               for job in jobs], settled,
                                              extended, self.budget, cancelled):
                yield response
                sent += len(response.jobs)
                self._delivered(len(response.jobs))
        finally:
            self.jobs_out = jobs[sent:] + self.jobs_out  # not delivered: released at the end

    def _delivered(self, count: int) -> None:
        if count:
            self.in_flight += count
            self.host.directory.in_flight(self.key, self.in_flight)

    def _fail(self, exc: BaseException) -> None:
        self.failure = exc
        self.halt.set()
        self.ready.set()

    def _finished(self, deadline: float | None) -> bool:
        if self.failure is not None:
            return False  # _write aborts the call
        if self.settle_tasks or self.settled_out or self.extended_out or self.cancelled_out or (
                self.jobs_out and not self.halt.is_set()):
            return False
        if self.reading_done:
            return True
        return deadline is not None and (self.in_flight <= 0 or time.monotonic() >= deadline)

    async def _read(self) -> None:
        try:
            async for request in self.requests:
                try:
                    await self.apply(request)
                except InvalidInput as exc:  # the worker's mistake, not ours: no ERROR log
                    self._fail(exc)
                    return
        finally:
            self.reading_done = True
            self.halt.set()
            self.ready.set()

    async def _watch_shutdown(self) -> None:
        await self.host.stopping.wait()
        self.halt.set()
        self.ready.set()

    async def _feed(self) -> None:
        while not self.halt.is_set():
            if self.credit <= 0:
                self.host.directory.waiting(self.key, False)
                self.credit_changed.clear()
                await first_of(self.credit_changed.wait(), self.halt.wait())
                continue
            self.host.directory.waiting(self.key, True)  # the liveness probe watches this
            jobs = await self.feed.take(min(self.credit, MAX_LEASE_BATCH))
            if jobs:
                self.host.directory.waiting(self.key, False)
            if self.halt.is_set():
                await self.feed.give_back(jobs)
                return
            self.credit -= len(jobs)
            self.jobs_out.extend(jobs)
            self._hold(job.lease_id for job in jobs)
            self.ready.set()

    def _hold(self, lease_ids: Iterable[uuid.UUID | None]) -> None:
        for lease_id in lease_ids:
            if lease_id is not None:
                self.leases.add(lease_id)
                self.host.holders[lease_id] = self

    def _let_go(self, lease_ids: Iterable[uuid.UUID]) -> None:
        for lease_id in lease_ids:
            self.leases.discard(lease_id)
            if self.host.holders.get(lease_id) is self:
                del self.host.holders[lease_id]

    def cancel(self, job_id: uuid.UUID, lease_id: uuid.UUID) -> None:
        """A cancel voided a lease of this session: a job not sent yet stays here (its credit
        comes back); a job the worker holds is no longer in flight, and the worker is told."""
        self._let_go([lease_id])
        unsent = [job for job in self.jobs_out if job.lease_id == lease_id]
        if unsent:
            self.jobs_out = [job for job in self.jobs_out if job.lease_id != lease_id]
            self.credit += len(unsent)
            self.credit_changed.set()
            return
        self.in_flight = max(self.in_flight - 1, 0)
        self.host.directory.in_flight(self.key, self.in_flight)
        self.cancelled_out.append(pb.Cancellation(job_id=str(job_id), lease_id=str(lease_id)))
        self.ready.set()

    async def apply(self, request: pb.SessionRequest) -> None:
        # only leases this session still holds are in flight (a cancelled one is not)
        mine = [lease for s in request.settlements if (lease := _lease_of(s)) is not None
                and lease in self.leases]
        self._check(request, leaving=len(mine))
        self._let_go(mine)
        self.settling_jobs += len(mine)
        if request.credit > 0:
            self.credit += request.credit
            self.credit_changed.set()
        if request.drain:
            self.credit = 0
            self.halt.set()
        if request.settlements or request.extensions:
            # pipelined: the next messages' settlements join the same group commit
            await self._room_to_settle()
            await self.settling.acquire()
            spawn("quorra-session-settle", self._settle(request, mine), on_error=self._fail,
                  keep=self.settle_tasks)
        self.ready.set()

    async def _room_to_settle(self) -> None:
        """Wait while more than ``MAX_SETTLING_JOBS`` settled jobs are being committed."""
        while self.settle_tasks and self.settling_jobs > MAX_SETTLING_JOBS:
            self.committed.clear()
            await self.committed.wait()

    def _check(self, request: pb.SessionRequest, *, leaving: int) -> None:
        """Bounds on what one worker may ask: the session ends with INVALID_ARGUMENT. The jobs
        it holds are those in flight less those it settled (``leaving`` in this message, and
        earlier ones whose settlement is still being committed: their slots are free)."""
        limits = self.host.limits
        items = len(request.settlements) + len(request.extensions)
        if items > limits.max_message_items:
            raise InvalidInput("settlements", f"{items} settlements and extensions in one "
                               f"message is over the limit of {limits.max_message_items}")
        held = self.in_flight - self.settling_jobs - leaving
        owed = self.credit + held + max(request.credit, 0)
        if owed > limits.max_session_credit:
            raise InvalidInput("credit", f"{owed} jobs owed and in flight is over the limit "
                               f"of {limits.max_session_credit} per session")

    async def _settle(self, request: pb.SessionRequest, mine: list[uuid.UUID]) -> None:
        try:
            held = set(mine) | self.leases
            settlements = await self._owned(request.settlements, held, self.settled_out)
            if settlements:
                await self._settle_all(settlements, mine)
            extensions = await self._owned(request.extensions, held, self.extended_out)
            if extensions:
                outcomes = await _bounded(self._extend(e) for e in extensions)
                self.extended_out.extend(outcomes)
        finally:
            self.settling.release()
            self.committed.set()
            self.ready.set()

    async def _owned(self, items: Any, held: set[uuid.UUID], refused: list[pb.Outcome]) -> Any:
        """Items of a tenant's session naming a lease it does not hold (one of an earlier
        session: a reconnect) must name one of the tenant's jobs; the others are answered
        NOT_FOUND in ``refused`` and go no further. A lease id is a secret already."""
        if self.principal is None or self.principal.tenant is None:
            return items
        jobs, kept = jobs_for(self.host.service, self.principal), []
        for item in items:
            try:
                if _lease_of(item) not in held:
                    await jobs.get(parse_id(item.job_id, "job_id"))
            except Exception as exc:
                refused.append(_outcome(item.job_id, item.lease_id, exc))
                continue
            kept.append(item)
        return kept

    async def _settle_all(self, items: Any, mine: list[uuid.UUID]) -> None:
        releases = [s for s in items if s.release]
        acks = [s for s in items if s.success and not s.release]
        others = [s for s in items if not s.success and not s.release]
        outcomes = await _bounded(self._settle_one(s) for s in others)
        if acks:
            outcomes.extend(await self._ack_all(acks))
        if releases:
            outcomes.extend(await self._release(releases))
        self.in_flight = max(self.in_flight - len(mine), 0)
        self.settling_jobs -= len(mine)
        self.host.directory.in_flight(self.key, self.in_flight)
        self.settled_out.extend(outcomes)

    async def _settle_one(self, item: pb.Settlement) -> pb.Outcome:
        try:
            status = await settle(self.host.service, self.host.windows, Settle(
                parse_id(item.job_id, "job_id"), parse_id(item.lease_id, "lease_id"),
                success=item.success, error=item.error_message,
                result=self._result(item) if item.success else None,
                no_retry=item.no_retry))
        except Exception as exc:
            return _outcome(item.job_id, item.lease_id, exc)
        return pb.Outcome(job_id=item.job_id, lease_id=item.lease_id, status=status.value)

    def _result(self, item: pb.Settlement) -> Any:
        return parse_result(item.result, self.host.limits.max_payload_bytes)

    async def _ack_all(self, items: list[pb.Settlement]) -> list[pb.Outcome]:
        """All the acks of one message in one transaction."""
        try:
            acks = [(parse_id(s.job_id, "job_id"), parse_id(s.lease_id, "lease_id"),
                     self._result(s)) for s in items]
            done = {settled.id for settled in await self.host.service.ack_many(acks)}
        except Exception as exc:
            if len(items) == 1:
                return [_outcome(items[0].job_id, items[0].lease_id, exc)]
            # one bad item (e.g. a malformed result) must not fail the others
            return await _bounded(self._settle_one(s) for s in items)
        for _, lease_id, _ in acks:
            self.host.windows.settled(lease_id)
        return [pb.Outcome(job_id=s.job_id, lease_id=s.lease_id, status="succeeded")
                if job in done else
                pb.Outcome(job_id=s.job_id, lease_id=s.lease_id, code=_LOST_CODE,
                           message="lease lost (expired, settled or unknown); nothing changed")
                for s, (job, _, _) in zip(items, acks, strict=True)]

    async def _release(self, items: list[pb.Settlement]) -> list[pb.Outcome]:
        try:
            pairs = [(parse_id(s.job_id, "job_id"), parse_id(s.lease_id, "lease_id"))
                     for s in items]
            released = set(await self.host.service.release(pairs))
        except Exception as exc:
            return [_outcome(s.job_id, s.lease_id, exc) for s in items]
        return [pb.Outcome(job_id=s.job_id, lease_id=s.lease_id, status="pending")
                if job in released else
                pb.Outcome(job_id=s.job_id, lease_id=s.lease_id, code=_LOST_CODE,
                           message="lease lost; nothing released")
                for s, (job, _) in zip(items, pairs, strict=True)]

    async def _extend(self, item: pb.Extension) -> pb.Outcome:
        try:
            lease_id = parse_id(item.lease_id, "lease_id")
            deadline = await self.host.service.extend(
                parse_id(item.job_id, "job_id"), lease_id, float(item.lease_ttl_seconds))
        except Exception as exc:
            return _outcome(item.job_id, item.lease_id, exc)
        self.host.windows.extended(lease_id, deadline)
        return pb.Outcome(job_id=item.job_id, lease_id=item.lease_id,
                          lease_expires_at=to_timestamp(deadline))
