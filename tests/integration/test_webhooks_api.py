"""The webhooks admin API (``/v1/webhooks``) on a running runtime: the secret is shown once and
never again; bad input is a 400 naming the field with nothing stored; only admin keys manage
subscriptions; a deleted subscription gets no new deliveries."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from quorra.bootstrap import Runtime
from quorra.core.webhooks import WEBHOOK_QUEUE
from tests.integration.conftest import API_KEY
from tests.integration.test_role_matrix import client

GOOD = {"url": "https://hooks.example.com/quorra", "events": ["job.succeeded"]}


def count(url: str, query: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


async def test_create_shows_the_secret_once(runtime: Runtime) -> None:
    async with client(runtime, API_KEY) as admin:
        made = await admin.post("/v1/webhooks", json={**GOOD, "queue": "mail.*",
                                                      "type": "send", "description": "ops"})
        assert made.status_code == 201, made.text
        body = made.json()
        secret = body.pop("secret")
        assert secret.startswith("whsec_") and len(secret) >= 43
        assert body["id"].startswith("wh_") and body["events"] == ["job.succeeded"]
        assert (body["queue"], body["type"], body["enabled"], body["max_retries"]) == (
            "mail.*", "send", True, 10)
        reads = [await admin.get("/v1/webhooks"), await admin.get(f"/v1/webhooks/{body['id']}"),
                 await admin.patch(f"/v1/webhooks/{body['id']}", json={"enabled": False}),
                 await admin.get(f"/v1/webhooks/{body['id']}/deliveries")]
        assert [r.status_code for r in reads] == [200, 200, 200, 200]
        for read in reads:
            assert secret not in read.text and "secret" not in read.text
        assert reads[0].json()["webhooks"][0]["id"] == body["id"]
        assert reads[2].json()["enabled"] is False
        assert reads[3].json() == {"deliveries": []}


@pytest.mark.parametrize(("body", "field"), [
    ({**GOOD, "url": "http://hooks.example.com/x"}, "url"),
    ({**GOOD, "url": "not a url"}, "url"),
    ({**GOOD, "url": "https://" + "a" * 2100 + ".com"}, "url"),
    ({**GOOD, "events": []}, "events"),
    ({**GOOD, "events": ["job.exploded"]}, "events"),
    ({"url": GOOD["url"]}, "events"),
    ({**GOOD, "queue": "no spaces"}, "queue"),
    ({**GOOD, "max_retries": -1}, "max_retries"),
    ({**GOOD, "surprise": 1}, "surprise"),
])
async def test_bad_input_is_a_400_and_stores_nothing(runtime: Runtime, clean_db: str,
                                                      body: dict[str, object],
                                                      field: str) -> None:
    async with client(runtime, API_KEY) as admin:
        answer = await admin.post("/v1/webhooks", json=body)
        assert answer.status_code == 400, answer.text
        assert field in answer.json()["error"]
        malformed = await admin.post("/v1/webhooks", content=b"{not json",
                                     headers={"Content-Type": "application/json"})
        assert malformed.status_code == 400
    assert count(clean_db, "SELECT count(*) FROM quorra_webhooks") == 0


async def test_unknown_ids_and_delete(runtime: Runtime) -> None:
    async with client(runtime, API_KEY) as admin:
        for method, path in (("GET", "/v1/webhooks/wh_nope"), ("DELETE", "/v1/webhooks/wh_x"),
                             ("GET", "/v1/webhooks/wh_x/deliveries")):
            answer = await admin.request(method, path)
            assert answer.status_code == 404 and answer.json() == {"error": "Webhook not found."}
        hook = (await admin.post("/v1/webhooks", json=GOOD)).json()["id"]
        assert (await admin.delete(f"/v1/webhooks/{hook}")).status_code == 204
        assert (await admin.get(f"/v1/webhooks/{hook}")).status_code == 404
        assert (await admin.patch(f"/v1/webhooks/{hook}", json={"enabled": True})
                ).status_code == 404


async def test_only_admin_keys_manage_webhooks(runtime: Runtime) -> None:
    async with client(runtime, API_KEY) as admin:
        operator = (await admin.post("/v1/keys", json={"name": "op", "role": "operator"})
                    ).json()["key"]
    async with client(runtime, operator) as op:
        assert (await op.get("/v1/webhooks")).status_code == 403
        assert (await op.post("/v1/webhooks", json=GOOD)).status_code == 403


async def test_reserved_queue_is_out_of_users_reach(runtime: Runtime) -> None:
    async with client(runtime, API_KEY) as admin:
        answer = await admin.post("/v1/jobs", json={"type": "t", "queue": WEBHOOK_QUEUE})
        assert answer.status_code == 400 and "queue" in answer.json()["error"]
        listed = await admin.get("/v1/jobs", params={"queue": WEBHOOK_QUEUE})
        assert listed.status_code in (200, 400)


async def test_a_deleted_subscription_gets_no_deliveries(runtime: Runtime,
                                                        clean_db: str) -> None:
    async with client(runtime, API_KEY) as admin:
        hook = (await admin.post("/v1/webhooks", json=GOOD)).json()["id"]
        job = (await admin.post("/v1/jobs", json={"type": "t", "queue": "q"})).json()["id"]
        (leased,) = await runtime.service.lease(["q"], worker_id="w", limit=1)
        assert str(leased.id) == job and leased.lease_id is not None
        await admin.delete(f"/v1/webhooks/{hook}")
        await runtime.service.ack(leased.id, leased.lease_id)
    assert count(clean_db, "SELECT count(*) FROM quorra_jobs WHERE queue = "
                           "'_quorra.webhooks'") == 0


def trigger_enabled(url: str) -> bool:
    return count(url, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'quorra_jobs'::regclass "
                      "AND tgname = 'quorra_jobs_webhooks' AND tgenabled <> 'D'") == 1


async def test_the_jobs_trigger_runs_only_while_an_enabled_subscription_exists(
        runtime: Runtime, clean_db: str) -> None:
    assert not trigger_enabled(clean_db)  # no subscription: the job path pays nothing
    async with client(runtime, API_KEY) as admin:
        made = await asyncio.gather(*[admin.post("/v1/webhooks", json=GOOD) for _ in range(4)])
        assert [m.status_code for m in made] == [201] * 4
        ids = [m.json()["id"] for m in made]
        assert trigger_enabled(clean_db)
        await asyncio.gather(*[admin.patch(f"/v1/webhooks/{i}", json={"enabled": False})
                               for i in ids[:3]])
        assert trigger_enabled(clean_db)  # one is still enabled
        await admin.patch(f"/v1/webhooks/{ids[3]}", json={"enabled": False})
        assert not trigger_enabled(clean_db)
        await admin.patch(f"/v1/webhooks/{ids[0]}", json={"enabled": True})
        assert trigger_enabled(clean_db)
        await asyncio.gather(*[admin.delete(f"/v1/webhooks/{i}") for i in ids])
        assert not trigger_enabled(clean_db)


async def test_a_flip_blocked_by_a_long_job_write_is_a_503_and_stores_nothing(
        runtime: Runtime, clean_db: str) -> None:
    async with client(runtime, API_KEY) as admin:
        job = (await admin.post("/v1/jobs", json={"type": "t", "queue": "q"})).json()["id"]
        async with await psycopg.AsyncConnection.connect(clean_db) as writer:
            await writer.execute("UPDATE quorra_jobs SET priority = 1 WHERE id = %s", (job,))
            started = time.monotonic()
            refused = await admin.post("/v1/webhooks", json=GOOD)
            waited = time.monotonic() - started
            await writer.rollback()
        assert refused.status_code == 503 and "busy" in refused.json()["error"]
        assert 1.5 < waited < 10
        assert count(clean_db, "SELECT count(*) FROM quorra_webhooks") == 0
        assert not trigger_enabled(clean_db)
        assert (await admin.post("/v1/webhooks", json=GOOD)).status_code == 201
        assert trigger_enabled(clean_db)
