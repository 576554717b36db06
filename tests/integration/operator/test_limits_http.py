"""Queue limits over REST, in the queue listing, on the dashboard and as a gauge; bad limits are
a 400 naming the field with nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from quorra.core.limits import QueueLimits
from tests.contract.conftest import spec
from tests.integration.operator.conftest import Stack
from tests.integration.operator.test_dashboard_http import log_in

Client = AsyncTestClient[Litestar]
LIMITS = {"max_concurrency": 3, "rate_limit": 50, "rate_period": 1.0}


async def test_set_read_list_and_remove_limits(stack: Stack, client: Client) -> None:
    put = await client.put("/v1/queues/mail/limits", json=LIMITS)  # before any job
    assert put.status_code == 200, put.text
    assert put.json() == {"queue": "mail", **LIMITS}
    assert (await client.get("/v1/queues/mail/limits")).json() == {"queue": "mail", **LIMITS}
    await stack.service.enqueue([spec(queue="mail") for _ in range(5)])
    assert len(await stack.service.lease(["mail"], worker_id="w", limit=10)) == 3
    assert (await client.get("/v1/queues")).json()["limits"] == {"mail": LIMITS}
    gone = await client.delete("/v1/queues/mail/limits")
    assert gone.status_code == 200
    assert gone.json() == {"queue": "mail", "max_concurrency": None, "rate_limit": None,
                           "rate_period": None}
    assert (await client.get("/v1/queues")).json()["limits"] == {}
    assert len(await stack.service.lease(["mail"], worker_id="w", limit=10)) == 2


@pytest.mark.parametrize(("body", "field"), [
    ({"max_concurrency": 0}, "max_concurrency"),
    ({"max_concurrency": "3"}, "max_concurrency"),
    ({"max_concurrency": 2_000_000}, "max_concurrency"),
    ({"rate_limit": 5}, "rate_period"),
    ({"rate_period": 1}, "rate_limit"),
    ({"rate_limit": 5, "rate_period": 0}, "rate_period"),
    ({"rate_limit": 5, "rate_period": 86401}, "rate_period"),
    ({"max_concurency": 3}, None),  # a misspelt field is refused, not ignored
])
async def test_bad_limits_are_400_and_change_nothing(stack: Stack, client: Client,
                                                     body: dict[str, Any],
                                                     field: str | None) -> None:
    await client.put("/v1/queues/mail/limits", json={"max_concurrency": 7})
    answer = await client.put("/v1/queues/mail/limits", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]
    if field is not None:
        assert answer.json()["field"] == field
    assert await stack.service.get_limits("mail") == QueueLimits(max_concurrency=7)


async def test_bad_queue_name_is_400(client: Client) -> None:
    answer = await client.put("/v1/queues/bad%20name/limits", json=LIMITS)
    assert answer.status_code == 400 and answer.json()["field"] == "queue"


async def test_limits_need_the_api_key(stack: Stack) -> None:
    async with AsyncTestClient(app=stack.app) as anonymous:
        answer = await anonymous.put("/v1/queues/mail/limits", json=LIMITS)
        assert answer.status_code == 401
    assert await stack.service.get_limits("mail") == QueueLimits()


async def test_dashboard_and_gauge_show_limits(stack: Stack) -> None:
    await stack.service.set_limits("mail", QueueLimits(max_concurrency=3, rate_limit=50,
                                                       rate_period=2))
    async with AsyncTestClient(app=stack.app) as client:
        await log_in(client)
        rows = (await client.get("/dashboard/api/overview")).json()["queues"]
        assert [(r["queue"], r["limits"]) for r in rows] == [("mail", "3 at once, 50 per 2s")]
    await stack.service.refresh_queue_gauge()
    registry = stack.service.metrics.registry
    assert registry.get_sample_value("quorra_queue_limit",
                                     {"queue": "mail", "kind": "max_concurrency"}) == 3
    assert registry.get_sample_value("quorra_queue_limit",
                                     {"queue": "mail", "kind": "rate_per_second"}) == 25
    await stack.service.set_limits("mail", QueueLimits())
    await stack.service.refresh_queue_gauge()
    assert registry.get_sample_value("quorra_queue_limit",
                                     {"queue": "mail", "kind": "max_concurrency"}) is None


async def test_limit_routes_are_in_the_openapi_schema(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    operations = schema["paths"]["/v1/queues/{queue}/limits"]
    assert {"get", "put", "delete"} <= set(operations)
    body = operations["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"max_concurrency", "rate_limit", "rate_period"} <= set(body["properties"])
