"""Metric values after a known sequence of operations, and ``promtool check metrics``."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import generate_latest

from quorra.archive.base import JobFilter
from quorra.core.errors import JobNotFound, LeaseLost
from quorra.core.jobs import JobStatus
from quorra.throughput import Throughput
from tests.contract.conftest import spec
from tests.integration.operator.conftest import Stack
from tests.support import require_tool


def value(stack: Stack, name: str, **labels: str) -> float | None:
    return stack.registry.get_sample_value(name, labels)


async def run_known_sequence(stack: Stack) -> None:
    """mail: 3 created; one succeeds, one fails once then succeeds, one dies (0 retries).
    sms: 1 created and left leased."""
    service = stack.service
    ok, flaky = spec(queue="mail"), spec(queue="mail", max_retries=1)
    doomed = spec(queue="mail", max_retries=0)
    await service.enqueue([ok, flaky, doomed])
    await service.enqueue([spec(queue="sms")])
    jobs = {job.id: job for job in await service.lease(["mail"], worker_id="w", limit=10)}
    lease = {job_id: job.lease_id for job_id, job in jobs.items()}
    assert all(lease.values())
    await service.ack(ok.id, lease[ok.id])  # type: ignore[arg-type]
    await service.nack(flaky.id, lease[flaky.id], "once")  # type: ignore[arg-type]
    await service.nack(doomed.id, lease[doomed.id], "always")  # type: ignore[arg-type]
    async with await psycopg.AsyncConnection.connect(stack.url, autocommit=True) as conn:
        await conn.execute("UPDATE quorra_jobs SET run_at = now() WHERE id = %s", (flaky.id,))
    (again,) = await service.lease(["mail"], worker_id="w", limit=10)
    assert again.id == flaky.id and again.lease_id is not None
    await service.ack(again.id, again.lease_id)
    await service.lease(["sms"], worker_id="w", limit=1)


async def test_counters_histograms_and_gauges(stack: Stack) -> None:
    await run_known_sequence(stack)
    expected = {"quorra_jobs_created_total": 3, "quorra_jobs_leased_total": 4,
                "quorra_jobs_processed_total": 2, "quorra_jobs_failed_total": 2,
                "quorra_jobs_dead_total": 1}
    for name, count in expected.items():
        assert value(stack, name, queue="mail") == count, name
    assert value(stack, "quorra_jobs_created_total", queue="sms") == 1
    assert value(stack, "quorra_job_wait_seconds_count", queue="mail") == 4
    assert value(stack, "quorra_job_run_seconds_count", queue="mail") == 4
    waited = value(stack, "quorra_job_wait_seconds_sum", queue="mail")
    assert waited is not None and 0 <= waited < 5
    assert value(stack, "quorra_job_queue_length", queue="mail", status="succeeded") is None
    await stack.service.refresh_queue_gauge()
    gauge = {s.value: 0 for s in JobStatus} | {"succeeded": 2, "dead": 1}
    for status, count in gauge.items():
        assert value(stack, "quorra_job_queue_length", queue="mail", status=status) == count
    assert value(stack, "quorra_job_queue_length", queue="sms", status="leased") == 1
    assert value(stack, "quorra_leases_in_flight") == 1


async def test_queue_gauge_zeroes_a_status_that_emptied(stack: Stack) -> None:
    await stack.service.enqueue([spec(queue="gone"), spec(queue="gone")])
    (leased,) = await stack.service.lease(["gone"], worker_id="w", limit=1)
    assert leased.lease_id is not None
    await stack.service.ack(leased.id, leased.lease_id)
    await stack.service.refresh_queue_gauge()
    assert value(stack, "quorra_job_queue_length", queue="gone", status="pending") == 1
    (waiting,) = (await stack.service.list_jobs(JobFilter(queue="gone", status=JobStatus.PENDING),
                                                limit=5)).jobs
    await stack.service.delete(waiting.id)
    await stack.service.refresh_queue_gauge()
    assert value(stack, "quorra_job_queue_length", queue="gone", status="pending") == 0
    await stack.service.delete(leased.id)
    await stack.service.refresh_queue_gauge()  # no job left: the queue's series go
    assert value(stack, "quorra_job_queue_length", queue="gone", status="succeeded") is None


async def test_queue_labels_are_capped(stack: Stack) -> None:
    stack.service.metrics.max_queues = len(stack.service.metrics._labelled) + 3
    await stack.service.enqueue([spec(queue=f"tenant{i}") for i in range(10)])
    await stack.service.refresh_queue_gauge()
    for i in range(3):
        assert value(stack, "quorra_jobs_created_total", queue=f"tenant{i}") == 1
        assert value(stack, "quorra_job_queue_length", queue=f"tenant{i}", status="pending") == 1
    assert value(stack, "quorra_jobs_created_total", queue="tenant3") is None
    assert value(stack, "quorra_jobs_created_total", queue="_other") == 7
    assert value(stack, "quorra_job_queue_length", queue="_other", status="pending") == 7


async def test_expired_lease_counts_as_failure_not_run_time(stack: Stack) -> None:
    (done,) = await stack.service.enqueue([spec(queue="r", max_retries=0)])
    await stack.service.lease(["r"], worker_id="w", limit=1)
    async with await psycopg.AsyncConnection.connect(stack.url, autocommit=True) as conn:
        await conn.execute("UPDATE quorra_jobs SET lease_expires_at = now() - interval '1s' "
                           "WHERE id = %s", (done.id,))
    assert len(await stack.service.reap_expired()) == 1
    assert value(stack, "quorra_jobs_failed_total", queue="r") == 1
    assert value(stack, "quorra_jobs_dead_total", queue="r") == 1
    assert value(stack, "quorra_job_run_seconds_count", queue="r") is None
    assert value(stack, "quorra_lease_expiries_total", queue="r") == 1
    assert value(stack, "quorra_job_end_to_end_seconds_count", queue="r", status="dead") == 1


async def test_signals_redeliveries_lifetimes_and_refusals(stack: Stack) -> None:
    await run_known_sequence(stack)
    assert value(stack, "quorra_jobs_redelivered_total", queue="mail") == 1  # flaky, again
    assert value(stack, "quorra_job_end_to_end_seconds_count", queue="mail",
                 status="succeeded") == 2
    assert value(stack, "quorra_job_end_to_end_seconds_count", queue="mail", status="dead") == 1
    lived = value(stack, "quorra_job_end_to_end_seconds_sum", queue="mail", status="succeeded")
    assert lived is not None and 0 < lived < 60
    assert value(stack, "quorra_lease_expiries_total", queue="mail") is None
    (job,) = await stack.service.enqueue([spec(queue="stale")])
    (leased,) = await stack.service.lease(["stale"], worker_id="w", limit=1)
    wrong = uuid.uuid4()
    for attempt in (stack.service.ack(job.id, wrong), stack.service.nack(job.id, wrong, "x"),
                    stack.service.extend(job.id, wrong), stack.service.ack(uuid.uuid4(), wrong)):
        with pytest.raises((LeaseLost, JobNotFound)):
            await attempt
    assert await stack.service.ack_many([(job.id, wrong, None)]) == []
    assert await stack.service.release([(job.id, wrong)]) == []
    refused = {op: value(stack, "quorra_settlements_refused_total", op=op)
               for op in ("ack", "nack", "extend", "release")}
    assert refused == {"ack": 3, "nack": 1, "extend": 1, "release": 1}
    assert leased.lease_id is not None
    await stack.service.ack(job.id, leased.lease_id)  # the live lease still settles


async def test_worker_and_mode_gauges(stack: Stack) -> None:
    stack.metrics.watch_workers(stack.workers)
    stack.metrics.set_dispatch_mode("postgres")
    assert value(stack, "quorra_workers_connected") == 0
    stack.workers.connect("s", "w1", ["default"])
    assert value(stack, "quorra_workers_connected") == 1
    assert value(stack, "quorra_dispatch_mode", mode="postgres") == 1
    stack.metrics.set_dispatch_mode("redis")
    assert value(stack, "quorra_dispatch_mode", mode="postgres") == 0
    assert value(stack, "quorra_dispatch_mode", mode="redis") == 1
    assert value(stack, "quorra_dispatch_mode_changes_total", mode="redis") is None
    for mode in ("postgres", "rebuilding", "redis", "postgres", "rebuilding", "redis"):
        stack.metrics.mode_changed(mode)
    assert value(stack, "quorra_dispatch_mode_changes_total", mode="postgres") == 2
    assert value(stack, "quorra_redis_rebuilds_total") == 2
    assert value(stack, "quorra_dispatch_mode", mode="redis") == 1


async def test_throughput_rates(stack: Stack) -> None:
    now = [1000.0]
    throughput = Throughput(stack.metrics, clock=lambda: now[0])
    await throughput.sample()
    await stack.service.enqueue([spec() for _ in range(4)])
    now[0] += 2
    await throughput.sample()
    (rate,) = throughput.series()
    assert (rate.at, rate.enqueued, rate.succeeded, rate.failed) == (1002.0, 2.0, 0.0, 0.0)


async def test_metrics_endpoint_passes_promtool(stack: Stack) -> None:
    promtool = require_tool("promtool", "prometheus")
    await run_known_sequence(stack)
    await stack.service.refresh_queue_gauge()
    stack.metrics.watch_workers(stack.workers)
    stack.metrics.set_dispatch_mode("postgres")
    async with AsyncTestClient[Litestar](app=stack.app) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.content == generate_latest(stack.registry)
    checked = await asyncio.create_subprocess_exec(
        promtool, "check", "metrics", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(checked.communicate(response.content), 30)
    assert checked.returncode == 0, output
    assert b'quorra_job_queue_length{queue="mail",status="dead"} 1.0' in response.content


async def test_throughput_counts_what_came_before_the_first_sample(stack: Stack) -> None:
    """A replica's first second: jobs done before the first chore's sample are in the first
    rate (the totals at start are the baseline)."""
    now = [1000.0]
    throughput = Throughput(stack.metrics, clock=lambda: now[0])
    await stack.service.enqueue([spec() for _ in range(3)])
    now[0] += 1
    await throughput.sample()
    (rate,) = throughput.series()
    assert (rate.at, rate.enqueued) == (1001.0, 3.0)
