"""Unique jobs end to end. Across replicas: two real ``quorra-server`` processes over one
database (one Postgres-only, one in Redis mode when Redis is there), 8 threads posting the same
unique key at once, half to each: exactly one ``201``, seven ``200`` duplicates naming that job,
one row. With a real worker: the key is held until the job succeeded."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import redis

import quorra
from tests.e2e.process import ServerProcess, start_server
from tests.e2e.worker_processes import API_KEY as WORKER_API_KEY
from tests.e2e.worker_processes import BIN, Workers, process_env
from tests.e2e.worker_processes import Server as WorkerServer
from tests.support import REDIS_URL, wait_until

API_KEY = "e2e-unique-key-0123456789"
PRODUCERS = 8


@pytest.fixture
def replicas(clean_db: str) -> Iterator[list[ServerProcess]]:
    extra: dict[str, str] = {}
    try:
        redis.Redis.from_url(REDIS_URL).flushdb()
        extra["REDIS_URL"] = REDIS_URL
    except redis.RedisError:
        pass  # both replicas Postgres-only
    with start_server(clean_db, API_KEY, name="unique-a") as a, \
            start_server(clean_db, API_KEY, name="unique-b", **extra) as b:
        yield [a, b]


def race(urls: list[str], body: dict[str, object]) -> list[httpx.Response]:
    """``PRODUCERS`` threads post ``body`` at once (a barrier), alternating between ``urls``."""
    barrier = threading.Barrier(PRODUCERS)
    answers: list[httpx.Response | None] = [None] * PRODUCERS

    def produce(index: int) -> None:
        with httpx.Client(base_url=urls[index % len(urls)], timeout=15,
                          headers={"X-API-Key": API_KEY}) as client:
            client.get("/healthz")  # connected before the barrier: the posts start together
            barrier.wait(timeout=15)
            answers[index] = client.post("/v1/jobs", json=body)

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(PRODUCERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(answer is not None for answer in answers)
    return [answer for answer in answers if answer is not None]


def jobs_with_key(url: str, key: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM quorra_jobs WHERE unique_key = %s",
                           (key,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("window", [None, 60])
def test_eight_producers_on_two_replicas_make_one_job(
    clean_db: str, replicas: list[ServerProcess], window: int | None
) -> None:
    urls = [replica.url for replica in replicas]
    for round_ in range(5):
        key = f"order-{window}-{round_}"
        body: dict[str, object] = {"type": "charge", "queue": "billing", "unique_key": key}
        if window:
            body["unique_for_seconds"] = window
        answers = race(urls, body)
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [200] * (PRODUCERS - 1) + [201], [a.text for a in answers]
        assert len({answer.json()["id"] for answer in answers}) == 1
        assert [a.json().get("duplicate") for a in answers if a.status_code == 200] == [
            True] * (PRODUCERS - 1)
        assert jobs_with_key(clean_db, key) == 1


def test_key_is_held_until_a_real_worker_finishes_the_job(
    clean_db: str, worker_server: WorkerServer, workers: Workers
) -> None:
    """quorra.Client and quorractl against a server with a quorra-worker: the key is held while
    the job waits and runs, and free once the worker's ack committed."""
    with quorra.Client(worker_server.grpc, api_key=WORKER_API_KEY) as client:
        first = client.enqueue("sleep", {"seconds": 0.5}, queue="default", unique_key="nightly")
        again = client.enqueue("sleep", {"seconds": 0.5}, unique_key="nightly")
        assert not first.duplicate and again.duplicate and again.id == first.id
        done = subprocess.run(
            [str(BIN / "quorractl"), "--server", worker_server.http, "-o", "json", "enqueue",
             "sleep", "--unique-key", "nightly"],
            env=process_env(QUORRA_API_KEY=WORKER_API_KEY), capture_output=True, timeout=30,
            check=True)
        assert json.loads(done.stdout)["duplicate"] is True
        workers.start("w1")
        wait_until(lambda: client.get(first.id).status == "succeeded", timeout=30,
                   what="the unique job to succeed")
        assert client.get(first.id).unique_key == "nightly"
        fresh = client.enqueue("sleep", {"seconds": 0}, unique_key="nightly")
        assert not fresh.duplicate and fresh.id != first.id
