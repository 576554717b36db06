"""Job search: ``GET /v1/jobs?payload=<JSON object>`` (containment) and ``?id_prefix=``, with
the other filters and paging, in Postgres-only and both Redis lease modes (every mode lists
from PostgreSQL); bad terms are 400 before anything is queried; a tenant's key searches its
tenant's queues only."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from quorra.bootstrap import Runtime, running
from quorra.core.keys import Role, auth_metadata
from tests.asgi import asgi_transport
from tests.contract.conftest import spec
from tests.integration.conftest import asgi_client, settings_for
from tests.support import REDIS_URL, flush_test_redis

MODES = {"postgres": {}, "redis-grant": {"redis_leases": "grant"},
         "redis-stream": {"redis_leases": "stream"}}


@pytest.fixture(params=list(MODES))
async def rt(request: pytest.FixtureRequest, clean_db: str) -> AsyncIterator[Runtime]:
    extra: dict[str, Any] = dict(MODES[request.param])
    if request.param != "postgres":
        await flush_test_redis()
        extra["redis_url"] = REDIS_URL
    async with running(settings_for(clean_db, auth_failure_limit=1000, **extra)) as runtime:
        assert runtime.mode == request.param.split("-")[0]
        yield runtime


PAYLOADS = [({"user": 42, "kind": "a"}, "q1", "email"), ({"user": 42, "deep": {"x": [1, 2]}},
            "q2", "email"), ({"user": 7}, "q1", "email"), ({"user": "42"}, "q1", "sms"),
            ({"user": 42}, "q1", "sms")]


async def _enqueue(rt: Runtime) -> list[uuid.UUID]:
    made = await rt.service.enqueue([spec(t, queue=q, payload=p) for p, q, t in PAYLOADS])
    return [item.id for item in made]


async def _ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    answer = await client.get("/v1/jobs", params=params)
    assert answer.status_code == 200, answer.text
    return [job["id"] for job in answer.json()["jobs"]]


async def test_payload_containment_with_the_other_filters(rt: Runtime) -> None:
    ids = [str(i) for i in await _enqueue(rt)]
    async with asgi_client(rt) as client:
        assert set(await _ids(client, payload='{"user": 42}')) == {ids[0], ids[1], ids[4]}
        assert await _ids(client, payload='{"user": "42"}') == [ids[3]]
        assert await _ids(client, payload='{"deep": {"x": [2]}}') == [ids[1]]
        assert set(await _ids(client, payload='{"user": 42}', queue="q1")) == {ids[0], ids[4]}
        assert await _ids(client, payload='{"user": 42}', type="sms") == [ids[4]]
        assert await _ids(client, payload='{"user": 42}', status="dead") == []
        assert await _ids(client, payload='{"nobody": 1}') == []
        assert len(await _ids(client, payload="{}")) == len(ids)


async def test_payload_search_pages_with_the_cursor(rt: Runtime) -> None:
    ids = await _enqueue(rt)
    seen: list[str] = []
    cursor: str | None = None
    async with asgi_client(rt) as client:
        for _ in range(10):  # bounded: three matches, one per page
            params: dict[str, str | int] = {"payload": '{"user": 42}', "limit": 1}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v1/jobs", params=params)).json()
            seen += [job["id"] for job in page["jobs"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == [str(ids[i]) for i in (4, 1, 0)]  # newest first


async def test_id_prefix_matches_exactly_the_ids_starting_with_it(rt: Runtime) -> None:
    ids = await _enqueue(rt)
    async with asgi_client(rt) as client:
        for length in (1, 8, 13, 20, 31, 32):
            prefix = ids[2].hex[:length]
            want = {str(i) for i in ids if i.hex.startswith(prefix)}
            assert set(await _ids(client, id_prefix=prefix)) == want
        assert await _ids(client, id_prefix=str(ids[2])) == [str(ids[2])]  # with hyphens
        assert await _ids(client, id_prefix=str(ids[2])[:23].upper()) == [
            str(i) for i in reversed(ids) if str(i).startswith(str(ids[2])[:23])]
        both = await _ids(client, id_prefix=ids[0].hex, payload='{"user": 42}')
        assert both == [str(ids[0])]
        assert await _ids(client, id_prefix=ids[2].hex, payload='{"user": 42}') == []


@pytest.mark.parametrize(("params", "field"), [
    ({"payload": "[1, 2]"}, "payload"), ({"payload": "{nope"}, "payload"),
    ({"payload": json.dumps({"k": "x" * 5000})}, "payload"), ({"payload": "42"}, "payload"),
    ({"payload": '{"a": "\\u0000"}'}, "payload.a"),
    ({"id_prefix": "01g2"}, "id_prefix"), ({"id_prefix": "0" * 33}, "id_prefix"),
    ({"id_prefix": "01a2%"}, "id_prefix"),
])
async def test_bad_terms_are_400_and_nothing_is_queried(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch, params: dict[str, str], field: str) -> None:
    async def refuse(*_: object, **__: object) -> None:
        raise AssertionError("queried")

    monkeypatch.setattr(rt.service, "list_jobs", refuse)
    async with asgi_client(rt) as client:
        answer = await client.get("/v1/jobs", params=params)
    assert answer.status_code == 400
    assert answer.json()["field"] == field and field in answer.json()["error"]


async def test_a_tenants_search_stays_in_its_queues(rt: Runtime) -> None:
    mine = await rt.service.enqueue([spec("t", queue="acme~m", payload={"user": 42})])
    theirs = await rt.service.enqueue([spec("t", queue="globex~m", payload={"user": 42})])
    key = (await rt.keys.create("acme", Role.OPERATOR, [], "acme")).secret
    transport = asgi_transport(rt.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 headers=dict(auth_metadata(key))) as client:
        found = (await client.get("/v1/jobs", params={"payload": '{"user": 42}'})).json()
        assert [(j["id"], j["queue"]) for j in found["jobs"]] == [(str(mine[0].id), "m")]
        assert await _ids(client, id_prefix=theirs[0].id.hex) == []
        assert await _ids(client, id_prefix=mine[0].id.hex, queue="m") == [str(mine[0].id)]
