"""Worker SDK surface and configuration (no services)."""

from __future__ import annotations

import pytest

import quorra.worker
from quorra.core.errors import ConfigError
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.worker import Registry, WorkerConfig
from quorra.worker.demo import demo_registry
from quorra.worker.main import load_handlers


def test_public_names_are_exported() -> None:
    public = {name for name in vars(quorra.worker) if not name.startswith("_")}
    modules = {"config", "registry", "runner", "execute", "demo", "main", "threads", "window",
               "deadlines", "tracing"}
    assert public - modules == set(quorra.worker.__all__)


def test_defaults_follow_goquorra() -> None:
    config = WorkerConfig.from_env({})
    assert (config.worker_id, config.queues, config.max_jobs, config.lease_ttl,
            config.grpc_addr) == ("worker-1", ("default",), 5, 30.0, "localhost:50051")


def test_values_are_parsed() -> None:
    config = WorkerConfig.from_env({
        "QUORRA_WORKER_ID": "w7", "QUORRA_WORKER_QUEUES": "email, default ,reports",
        "QUORRA_WORKER_MAX_JOBS": "12", "QUORRA_WORKER_LEASE_TTL": "2m",
        "QUORRA_GRPC_ADDR": ":6000", "QUORRA_API_KEY": "k"})
    assert (config.worker_id, config.queues, config.max_jobs, config.lease_ttl,
            config.grpc_addr, config.api_key) == (
        "w7", ("email", "default", "reports"), 12, 120.0, "localhost:6000", "k")


@pytest.mark.parametrize(("name", "value"), [
    ("QUORRA_WORKER_MAX_JOBS", "0"), ("QUORRA_WORKER_MAX_JOBS", "five"),
    ("QUORRA_WORKER_LEASE_TTL", "forever"), ("QUORRA_WORKER_LEASE_TTL", "0.1s"),
    ("QUORRA_WORKER_QUEUES", "a,,b"), ("QUORRA_GRPC_ADDR", "nowhere"),
    ("QUORRA_SHUTDOWN_GRACE", "soon"), ("QUORRA_WORKER_MAX_MESSAGE_BYTES", "1000"),
])
def test_invalid_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        WorkerConfig.from_env({name: value})
    assert info.value.variable == name


def test_registry_and_demo_handlers() -> None:
    registry = Registry()

    @registry.handler("a")
    def handle(job: object) -> int:
        return 1

    assert registry.get("a") is handle and registry.get("b") is None
    assert demo_registry.types() == ["email_send", "fail", "sleep", "test_job"]
    assert load_handlers("") is demo_registry
    with pytest.raises(ConfigError, match="QUORRA_WORKER_HANDLERS"):
        load_handlers("no.such.module")


def test_message_size_is_announced_and_configurable() -> None:
    assert WorkerConfig.from_env({}).max_message_bytes == 64 * 1024 * 1024 + 64 * 1024
    config = WorkerConfig.from_env({"QUORRA_WORKER_MAX_MESSAGE_BYTES": "8388608"})
    assert config.max_message_bytes == 8 * 1024 * 1024


class _Call:
    def __init__(self, fail_at: int = -1) -> None:
        self.written: list[pb.SessionRequest] = []
        self.fail_at = fail_at

    async def write(self, request: pb.SessionRequest) -> None:
        if len(self.written) == self.fail_at:
            raise ConnectionError("gone")
        self.written.append(request)


async def test_settlements_with_large_results_go_out_in_several_messages() -> None:
    from quorra.worker.runner import SEND_BUDGET, Worker

    worker = Worker(WorkerConfig())
    worker.credit = 7
    worker.settlements = [pb.Settlement(job_id=str(n), lease_id="l", success=True,
                                        result=b"1" * (900 * 1024)) for n in range(20)]
    call = _Call()
    await worker._write_pending(call)
    assert all(m.ByteSize() <= SEND_BUDGET for m in call.written)
    assert [s.job_id for m in call.written for s in m.settlements] == [str(n) for n in range(20)]
    assert [m.credit for m in call.written][:2] == [7, 0] and not worker.settlements
    failing = _Call(fail_at=1)
    worker.settlements, worker.credit = list(call.written[0].settlements) * 2, 3
    with pytest.raises(ConnectionError):
        await worker._write_pending(failing)
    assert len(worker.settlements) == 2 * len(call.written[0].settlements) - len(
        failing.written[0].settlements)  # the unwritten ones are queued again
    assert worker.credit == 0  # sent with the first message
    worker.threads.shutdown()


def test_a_refused_result_becomes_a_failed_attempt() -> None:
    from quorra.worker.runner import Worker

    worker = Worker(WorkerConfig())
    worker._refused(pb.Outcome(job_id="j", lease_id="l", code=3,
                               message="result: 2000000 bytes is over the limit of 1048576"))
    worker._refused(pb.Outcome(job_id="k", lease_id="l", code=9, message="lease lost"))
    (failure,) = worker.settlements
    assert (failure.job_id, failure.success) == ("j", False)
    assert failure.error_message.startswith("result refused: result: 2000000 bytes")
    worker.threads.shutdown()


async def test_a_cancellation_stops_handlers_and_settles_nothing() -> None:
    import asyncio
    import threading

    from quorra.worker.runner import Worker

    registry, seen = Registry(), threading.Event()

    @registry.handler("async")
    async def sleeps(job: quorra.worker.Job) -> None:
        await asyncio.sleep(60)

    @registry.handler("sync")
    def polls(job: quorra.worker.Job) -> str:
        for _ in range(600):  # bounded: at most 60 s
            if job.cancelled:
                seen.set()
                return "ignored"
            threading.Event().wait(0.1)
        return "ran to its end"

    worker = Worker(WorkerConfig(), registry)
    for job_id, job_type in (("a", "async"), ("s", "sync")):
        worker._start(pb.Job(id=job_id, type=job_type, lease_id=f"l-{job_id}"))
    entries = [worker.running["a"], worker.running["s"]]
    await asyncio.sleep(0)  # the handlers start
    assert entries[0].handler_task is not None and entries[1].handler_task is None
    worker._cancelled(pb.Cancellation(job_id="a", lease_id="someone else's lease"))
    assert not entries[0].cancelled  # not this lease: ignored
    for job_id in ("a", "s"):
        worker._cancelled(pb.Cancellation(job_id=job_id, lease_id=f"l-{job_id}"))
    await asyncio.wait_for(asyncio.gather(*(e.task for e in entries)), 10)
    assert seen.is_set() and entries[0].handler_task.cancelled()
    assert worker.settlements == [] and worker.running == {}
    assert worker.credit >= worker.config.max_jobs  # both slots free again: asked for
    worker.threads.shutdown()


async def test_a_job_cancelled_before_its_handler_began_never_runs() -> None:
    import asyncio

    from quorra.worker.runner import Worker

    registry, ran = Registry(), []
    registry.add("t", lambda job: ran.append(job.id))
    worker = Worker(WorkerConfig(), registry)
    worker._start(pb.Job(id="j", type="t", lease_id="l"))
    entry = worker.running["j"]
    worker._cancelled(pb.Cancellation(job_id="j", lease_id="l"))
    await asyncio.wait_for(asyncio.gather(entry.task, return_exceptions=True), 5)
    assert (ran, worker.settlements, worker.running) == ([], [], {})
    assert worker.credit == worker.window.size()  # its slot asked for again: the whole window
    worker.threads.shutdown()


async def test_a_prefetched_job_cancelled_while_waiting_for_a_slot_stops_at_once() -> None:
    import asyncio

    from quorra.worker.runner import Worker

    registry, release, ran = Registry(), asyncio.Event(), []

    @registry.handler("t")
    async def holds(job: quorra.worker.Job) -> None:
        ran.append(job.id)
        await release.wait()

    worker = Worker(WorkerConfig(max_jobs=1, prefetch=1), registry)
    for job_id in ("first", "waiting"):
        worker._start(pb.Job(id=job_id, type="t", lease_id=f"l-{job_id}"))
    waiting = worker.running["waiting"]
    await asyncio.sleep(0)  # both tasks ran: the first holds the slot, the other waits for it
    assert waiting.began and not waiting.started
    worker._cancelled(pb.Cancellation(job_id="waiting", lease_id="l-waiting"))
    await asyncio.wait_for(asyncio.gather(waiting.task, return_exceptions=True), 5)
    assert list(worker.running) == ["first"] and ran == ["first"] and worker.settlements == []
    release.set()
    await asyncio.wait_for(worker.running["first"].task, 5)
    assert ran == ["first"]
    worker.threads.shutdown()
