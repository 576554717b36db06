"""Cron schedules on real PostgreSQL: the REST routes (create, replace, list, get, pause,
resume, delete; bad input and unknown names), the dashboard's list and buttons, and firing: one
job per tick however many replicas fire at once, the same job when a tick is fired again, paused
schedules never fire."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from quorra.core.schedules import tick_id
from tests.integration.operator.conftest import API_KEY, Stack
from tests.integration.operator.test_dashboard_http import ORIGIN, log_in

Client = AsyncTestClient[Litestar]
BODY: dict[str, Any] = {"name": "nightly", "cron": "0 2 * * *", "timezone": "Europe/Paris",
                        "job": {"type": "report", "queue": "reports", "payload": {"k": 1}}}


async def make_due(stack: Stack, name: str, at: datetime) -> None:
    async with await psycopg.AsyncConnection.connect(stack.url, autocommit=True) as conn:
        await conn.execute("UPDATE quorra_schedules SET next_run_at = %s WHERE name = %s",
                           (at, name))


async def jobs_of(stack: Stack) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(stack.url, autocommit=True) as conn:
        cur = await conn.execute("SELECT id, type, queue, payload, run_at FROM quorra_jobs "
                                 "ORDER BY run_at")
        return await cur.fetchall()


async def test_create_get_list_replace_delete(client: Client) -> None:
    created = await client.post("/v1/schedules", json=BODY)
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["name"] == "nightly" and view["paused"] is False
    assert view["next_run_at"].endswith(("T01:00:00Z", "T00:00:00Z"))  # 02:00 in Paris
    assert (await client.post("/v1/schedules", json=BODY)).status_code == 409
    assert (await client.get("/v1/schedules/nightly")).json() == view
    listed = (await client.get("/v1/schedules")).json()["schedules"]
    assert [s["name"] for s in listed] == ["nightly"]
    replaced = await client.put("/v1/schedules/nightly",
                                json={"cron": "*/5 * * * *", "job": {"type": "other"}})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["job"]["type"] == "other"
    assert replaced.json()["created_at"] == view["created_at"]
    assert (await client.delete("/v1/schedules/nightly")).status_code == 204
    assert (await client.get("/v1/schedules/nightly")).status_code == 404
    assert (await client.delete("/v1/schedules/nightly")).status_code == 404


async def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(client: Client) -> None:
    cases = [({**BODY, "cron": "every day"}, "cron"), ({**BODY, "timezone": "Nowhere"}, "timezone"),
             ({**BODY, "job": {"type": "t", "priority": 10**9}}, "job.priority"),
             ({**BODY, "name": "a b"}, "name")]
    for body, field in cases:
        answer = await client.post("/v1/schedules", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["field"] == field
    assert (await client.get("/v1/schedules")).json() == {"schedules": []}
    assert (await client.post("/v1/schedules/missing/pause")).status_code == 404
    assert (await client.post("/v1/schedules/missing/resume")).status_code == 404


async def test_a_due_tick_enqueues_its_job_once(client: Client, stack: Stack) -> None:
    assert (await client.post("/v1/schedules", json=BODY)).status_code == 201
    tick = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    await make_due(stack, "nightly", tick)
    assert await stack.schedules.fire_due() == 1
    assert await stack.schedules.fire_due() == 0  # next tick is tomorrow
    (job,) = await jobs_of(stack)
    assert job == (tick_id("nightly", tick), "report", "reports", {"k": 1}, tick)
    view = (await client.get("/v1/schedules/nightly")).json()
    assert view["last_job_id"] == str(job[0]) and view["next_run_at"] > view["last_run_at"]
    assert stack.registry.get_sample_value("quorra_schedule_ticks_total") == 1


async def test_replicas_firing_at_once_enqueue_one_job_per_tick(client: Client,
                                                                stack: Stack) -> None:
    for i in range(5):
        body = {**BODY, "name": f"s{i}", "cron": "* * * * * *"}
        assert (await client.post("/v1/schedules", json=body)).status_code == 201
        await make_due(stack, f"s{i}", datetime.now(UTC) - timedelta(seconds=30))
    fired = await asyncio.gather(*(stack.schedules.fire_due() for _ in range(8)))
    assert sum(fired) == 5, fired
    jobs = await jobs_of(stack)
    assert len(jobs) == 5 and len({job[0] for job in jobs}) == 5


async def test_a_tick_fired_again_stores_nothing_new(client: Client, stack: Stack) -> None:
    """A replica that dies after the enqueue and before recording the tick leaves the
    schedule due: the next claim enqueues the same id, which stores nothing."""
    assert (await client.post("/v1/schedules", json=BODY)).status_code == 201
    tick = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    for _ in range(3):
        await make_due(stack, "nightly", tick)
        assert await stack.schedules.fire_due() == 1
    assert [job[0] for job in await jobs_of(stack)] == [tick_id("nightly", tick)]


async def test_paused_schedules_do_not_fire_and_resume_skips_missed_ticks(
        client: Client, stack: Stack) -> None:
    assert (await client.post("/v1/schedules", json=BODY)).status_code == 201
    paused = await client.post("/v1/schedules/nightly/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    await make_due(stack, "nightly", datetime.now(UTC) - timedelta(days=3))
    assert await stack.schedules.fire_due() == 0
    resumed = (await client.post("/v1/schedules/nightly/resume")).json()
    assert resumed["paused"] is False
    assert datetime.fromisoformat(resumed["next_run_at"]) > datetime.now(UTC)
    assert await stack.schedules.fire_due() == 0 and await jobs_of(stack) == []


async def test_dashboard_lists_schedules_and_pauses_them_with_csrf(stack: Stack) -> None:
    async with AsyncTestClient(app=stack.app) as client:
        token = await log_in(client)
        made = await client.put("/v1/schedules/nightly", headers={"X-API-Key": API_KEY},
                                json={"cron": "0 3 * * *", "job": {"type": "report"}})
        assert made.status_code == 200, made.text
        listed = (await client.get("/dashboard/api/schedules")).json()["schedules"]
        assert [(s["name"], s["cron"], s["paused"]) for s in listed] == [
            ("nightly", "0 3 * * *", False)]
        forged = await client.post("/dashboard/api/schedules/nightly/pause",
                                   headers={"Origin": ORIGIN})
        assert forged.status_code == 403
        assert (await stack.schedules.get("nightly")).paused is False
        paused = await client.post("/dashboard/api/schedules/nightly/pause",
                                   headers={"X-CSRF-Token": token})
        assert paused.status_code == 200 and paused.json()["paused"] is True
        resumed = await client.post("/dashboard/api/schedules/nightly/resume",
                                    headers={"X-CSRF-Token": token})
        assert resumed.json()["paused"] is False
        missing = await client.post("/dashboard/api/schedules/nobody/pause",
                                    headers={"X-CSRF-Token": token})
        assert missing.status_code == 404 and missing.json()["error"]
    async with AsyncTestClient(app=stack.app) as anonymous:
        assert (await anonymous.get("/dashboard/api/schedules")).status_code == 401
