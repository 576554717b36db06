"""``quorra.Client`` / ``quorra.AsyncClient`` against a real ``quorra-server`` process: one job,
10,000 jobs in order, a server killed mid-stream (nothing acknowledged lost, nothing doubled),
typed errors (bad input naming the field, wrong key, no server, unknown job)."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

import quorra
from quorra.client import (
    AuthError,
    Conflict,
    Enqueued,
    InvalidRequest,
    NotFound,
    ServerUnavailable,
)
from tests.e2e.process import ServerProcess, start_server
from tests.support import TcpProxy, eventually, free_port, wait_until

API_KEY = "e2e-key-issue8-client"


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[ServerProcess]:
    with start_server(database_url, API_KEY, name="client") as srv:
        yield srv


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(server: ServerProcess) -> Iterator[quorra.Client]:
    with quorra.Client(server.grpc, api_key=API_KEY) as c:
        yield c


def stored(database_url: str, queue: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT id::text, type, payload FROM quorra_jobs WHERE queue = %s",
                            (queue,)).fetchall()


def test_one_job_lands_and_get_shows_it(client: quorra.Client, queue: str,
                                        database_url: str) -> None:
    done = client.enqueue("email_send", {"to": "a@example.com"}, queue=queue, priority=3)
    assert done.status == "pending" and done.run_at is not None
    assert stored(database_url, queue) == [(done.id, "email_send", {"to": "a@example.com"})]
    channel = client._async._channel
    info = client.get(done.id)
    assert channel is not None and client._async._channel is channel  # one connection, reused
    assert (info.id, info.type, info.queue, info.status, info.priority, info.payload) == (
        done.id, "email_send", queue, "pending", 3, {"to": "a@example.com"})


def test_delay_and_run_at(client: quorra.Client, queue: str) -> None:
    before = datetime.now(UTC)
    delayed = client.enqueue("t", queue=queue, delay=60)
    assert delayed.run_at is not None and delayed.run_at > before + timedelta(seconds=50)
    at = before + timedelta(hours=1)
    planned = client.enqueue("t", queue=queue, run_at=at)
    assert planned.run_at is not None and abs((planned.run_at - at).total_seconds()) < 0.01


def test_ten_thousand_jobs_land_once_in_order(client: quorra.Client, queue: str,
                                              database_url: str) -> None:
    jobs = ({"type": "bulk", "queue": queue, "payload": {"n": n}} for n in range(10_000))
    done = client.enqueue_many(jobs)
    assert len(done) == 10_000 and len({d.id for d in done}) == 10_000
    rows = {row[0]: row[2]["n"] for row in stored(database_url, queue)}
    assert len(rows) == 10_000
    assert [rows[d.id] for d in done] == list(range(10_000))  # ids returned in input order
    assert [d.id for d in done] == sorted(d.id for d in done)  # UUIDv7: time-ordered


def test_same_id_twice_is_one_job(client: quorra.Client, queue: str,
                                  database_url: str) -> None:
    job_id = str(uuid.uuid4())
    first = client.enqueue("t", {"a": 1}, queue=queue, id=job_id)
    again = client.enqueue("t", {"a": 1}, queue=queue, id=job_id)
    assert first == again and first.id == job_id
    assert len(stored(database_url, queue)) == 1


def test_bad_input_names_the_field(client: quorra.Client, queue: str,
                                   database_url: str) -> None:
    with pytest.raises(InvalidRequest) as one:
        client.enqueue("t", queue=queue, max_retries=1_000)
    assert one.value.field == "max_retries"
    good = [{"type": "t", "queue": queue}] * 700
    with pytest.raises(InvalidRequest) as many:
        client.enqueue_many([*good, {"type": "t", "queue": "bad queue!"}])
    assert many.value.field == "jobs[700].queue"
    with pytest.raises(InvalidRequest) as local:
        client.enqueue_many([{"type": "t", "colour": "red"}])
    assert local.value.field == "jobs[0].colour"
    assert len(stored(database_url, queue)) == 500  # the first message (500 jobs) was stored
    assert len(many.value.enqueued) == 500


def test_wrong_key_is_an_auth_error(server: ServerProcess) -> None:
    with quorra.Client(server.grpc, api_key="wrong") as bad, pytest.raises(AuthError):
        bad.enqueue("t")


def test_unknown_job_is_not_found(client: quorra.Client) -> None:
    with pytest.raises(NotFound):
        client.get(str(uuid.uuid4()))
    with pytest.raises(InvalidRequest) as bad:
        client.get("nope")
    assert bad.value.field == "id"


def test_cancel(client: quorra.Client, database_url: str) -> None:
    done = client.enqueue("t", delay=3600)
    assert client.cancel(done.id).status == "cancelled"
    assert client.cancel(done.id).status == "cancelled"  # idempotent
    with pytest.raises(NotFound):
        client.cancel(str(uuid.uuid4()))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE quorra_jobs SET status = 'dead' WHERE id = %s", (done.id,))
    with pytest.raises(Conflict) as refused:
        client.cancel(done.id)
    assert refused.value.code == "FAILED_PRECONDITION"


def test_no_server_is_unavailable_quickly() -> None:
    started = time.monotonic()
    with quorra.Client(f"127.0.0.1:{free_port()}", api_key=API_KEY, retry_for=0.5) as nobody, \
            pytest.raises(ServerUnavailable):
        nobody.enqueue("t")
    assert time.monotonic() - started < 3


async def test_async_client(server: ServerProcess, queue: str, database_url: str) -> None:
    async with quorra.AsyncClient(server.grpc, api_key=API_KEY, batch_size=100) as client:
        one = await client.enqueue("a", queue=queue)

        async def jobs() -> Any:
            for n in range(250):
                yield quorra.NewJob("b", {"n": n}, queue=queue)

        many = await client.enqueue_many(jobs())
        assert await client.enqueue_many([]) == []
        assert (await client.get(one.id)).type == "a"
    assert len(many) == 250 and len(stored(database_url, queue)) == 251


def test_server_killed_mid_stream_loses_and_doubles_nothing(database_url: str,
                                                            queue: str) -> None:
    grpc_addr = f"127.0.0.1:{free_port()}"
    total = 40_000
    result: list[Enqueued] = []
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with quorra.Client(grpc_addr, api_key=API_KEY, retry_for=60) as client:
                result.extend(client.enqueue_many(
                    {"type": "cut", "queue": queue, "payload": {"n": n}} for n in range(total)))
        except BaseException as exc:
            errors.append(exc)

    producer = threading.Thread(target=produce)
    with start_server(database_url, API_KEY, name="client-cut-1",
                      QUORRA_GRPC_ADDR=grpc_addr) as first:
        producer.start()
        wait_until(lambda: len(stored(database_url, queue)) >= 2_000, timeout=30,
                   what="the first jobs to land")
        first.stop(signal.SIGKILL)
    landed_before = len(stored(database_url, queue))
    with start_server(database_url, API_KEY, name="client-cut-2", QUORRA_GRPC_ADDR=grpc_addr):
        producer.join(120)
    assert not producer.is_alive() and not errors, errors
    assert landed_before < total, "the cut came too late to test anything"
    rows = {row[0]: row[2]["n"] for row in stored(database_url, queue)}
    assert len(result) == total and len(rows) == total
    assert [rows[d.id] for d in result] == list(range(total))


@pytest.mark.parametrize("via", ["grpc", "rest"])
def test_quorractl_enqueue_bulk_via(server: ServerProcess, queue: str, database_url: str,
                                    via: str) -> None:
    from click.testing import CliRunner

    from quorra.cli import main

    lines = "".join(f'{{"type": "bulk", "payload": {{"n": {n}}}}}\n' for n in range(1_200))
    result = CliRunner().invoke(
        main, ["--server", server.url, "--api-key", API_KEY, "enqueue-bulk", "--queue", queue,
               "--via", via, "--grpc-addr", server.grpc], input=lines, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(row[2]["n"] for row in stored(database_url, queue)) == list(range(1_200))


def test_a_failing_job_source_stops_the_stream(client: quorra.Client, queue: str) -> None:
    def jobs() -> Any:
        for n in range(1_000):
            yield {"type": "t", "queue": queue}
            if n == 600:
                raise LookupError("the source broke")

    with pytest.raises(LookupError, match="the source broke"):
        client.enqueue_many(jobs())
    assert client.enqueue("after", queue=queue).status == "pending"  # the client still works


async def test_connection_cut_mid_stream_loses_and_doubles_nothing(
        server: ServerProcess, queue: str, database_url: str) -> None:
    host, port = server.grpc.rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    total = 30_000
    async with quorra.AsyncClient(f"127.0.0.1:{proxy.port}", api_key=API_KEY,
                                  retry_for=30) as client:
        sending = asyncio.create_task(client.enqueue_many(
            {"type": "cut", "queue": queue, "payload": {"n": n}} for n in range(total)))

        async def some_landed() -> bool:
            return len(await asyncio.to_thread(stored, database_url, queue)) >= 3_000

        await eventually(some_landed, timeout=30, what="the first jobs to land")
        await proxy.cut()  # every connection dropped: answers in flight are lost
        landed_before = len(stored(database_url, queue))
        await proxy.start()  # the same port again
        done = await asyncio.wait_for(sending, 120)
    await proxy.cut()
    assert landed_before < total, "the cut came too late to test anything"
    rows = {row[0]: row[2]["n"] for row in stored(database_url, queue)}
    assert len(done) == total and len(rows) == total
    assert [rows[d.id] for d in done] == list(range(total))
