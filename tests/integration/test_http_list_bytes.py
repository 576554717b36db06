"""Listings are bounded by bytes as well as by count: ``GET /v1/jobs`` (and the dashboard's
listing) stops before the byte bound and returns the cursor of the next page; ``/v1/recent``
returns fewer jobs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from quorra.archive.base import JobFilter
from quorra.bootstrap import Runtime, running
from quorra.core.spec import Limits
from tests.integration.conftest import asgi_client, settings_for

KIB = 1024
BUDGET = 1024 * KIB


@pytest.fixture
async def bounded(clean_db: str) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    settings = settings_for(clean_db, limits=Limits(max_list_bytes=BUDGET))
    async with running(settings) as rt, asgi_client(rt) as client:
        yield rt, client


def compressible(size: int) -> dict[str, Any]:
    return {"blob": "x" * size}  # tiny as stored (TOAST compresses it): only JSON size counts


def incompressible(size: int) -> dict[str, Any]:
    return {"blob": os.urandom(size // 2).hex()}


async def create(client: httpx.AsyncClient, payloads: list[dict[str, Any]]) -> list[str]:
    ids = []
    for payload in payloads:
        response = await client.post("/v1/jobs", json={"type": "big", "payload": payload})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def walk(client: httpx.AsyncClient, **params: Any) -> list[list[str]]:
    """Every page of ``GET /v1/jobs`` (bounded: at most 100 pages)."""
    pages: list[list[str]] = []
    cursor = None
    for _ in range(100):
        response = await client.get("/v1/jobs", params={**params, **(
            {"cursor": cursor} if cursor else {})})
        assert response.status_code == 200
        assert len(response.content) <= BUDGET + KIB or len(response.json()["jobs"]) == 1
        body = response.json()
        pages.append([job["id"] for job in body["jobs"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("more than 100 pages")


@pytest.mark.parametrize("make", [compressible, incompressible])
async def test_listing_pages_by_bytes(bounded: tuple[Runtime, httpx.AsyncClient],
                                      make: Any) -> None:
    _, client = bounded
    ids = await create(client, [make(300 * KIB) for _ in range(12)] + [{"n": 1}] * 3)
    pages = await walk(client, limit=1000)
    assert [job for page in pages for job in page] == ids[::-1]  # all, once, newest first
    # three 300 KiB jobs fit in 1 MiB, a fourth does not (the three small ones come first)
    assert [len(page) for page in pages] == [6, 3, 3, 3]
    by_count = await walk(client, limit=4, type="big")
    assert [job for page in by_count for job in page] == ids[::-1]


async def test_a_job_over_the_bound_comes_alone(
    bounded: tuple[Runtime, httpx.AsyncClient]
) -> None:
    runtime, client = bounded
    ids = await create(client, [incompressible(900 * KIB), {"n": 1}, incompressible(900 * KIB)])
    (leased,) = await runtime.service.lease(["default"], worker_id="w", limit=1)
    assert leased.lease_id is not None
    await runtime.service.ack(leased.id, leased.lease_id, incompressible(900 * KIB))
    pages = await walk(client, limit=1000)
    assert [job for page in pages for job in page] == ids[::-1]
    # newest first: 900 KiB + a small one; then the oldest, 1.8 MB with its result, alone
    assert [len(page) for page in pages] == [2, 1]
    recent = (await client.get("/v1/recent", params={"limit": 1000})).json()["jobs"]
    assert [job["id"] for job in recent] == ids[::-1][:2]


async def test_the_store_stops_reading_at_the_bound(
    bounded: tuple[Runtime, httpx.AsyncClient]
) -> None:
    """The archive cuts by stored size: rows past the bound are not fetched in full."""
    runtime, client = bounded
    ids = await create(client, [incompressible(200 * KIB) for _ in range(6)])
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = await runtime.service.list_jobs(JobFilter(), limit=100, after=after,
                                               max_bytes=300 * KIB)
        assert len(page.jobs) == 2  # the second one starts under the bound
        seen += [str(job.id) for job in page.jobs]
        after = page.after
        if after is None:
            break
    assert seen == ids[::-1]
    whole = await runtime.service.list_jobs(JobFilter(), limit=6)
    assert len(whole.jobs) == 6 and whole.after is None
