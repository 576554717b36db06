"""A PostgreSQL outage is a fast 503 (never a 404 or a hang), and the server recovers."""

from __future__ import annotations

import time
import uuid

import psycopg

from quorra.bootstrap import running
from tests.integration.conftest import asgi_client, settings_for
from tests.support import TcpProxy


async def test_store_outage_is_503_then_recovers(clean_db: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(clean_db)
    proxy = TcpProxy(str(info.get("host", "127.0.0.1")), int(info.get("port") or 5432))
    port = await proxy.start()
    url = psycopg.conninfo.make_conninfo(clean_db, host="127.0.0.1", port=port)
    async with running(settings_for(url, db_timeout=1.0)) as rt, asgi_client(rt) as client:
        created = await client.post("/v1/jobs", json={"type": "before"})
        assert created.status_code == 201
        job_url = f"/v1/jobs/{created.json()['id']}"

        await proxy.cut()
        for method, route, body in [("GET", job_url, None), ("POST", "/v1/jobs", {"type": "x"}),
                                    ("GET", "/v1/queues", None),
                                    ("GET", f"/v1/jobs/{uuid.uuid4()}", None)]:
            started = time.monotonic()
            answer = await client.request(method, route, json=body)
            assert answer.status_code == 503, f"{method} {route}: {answer.text}"
            assert "unavailable" in answer.json()["error"].lower()
            assert time.monotonic() - started < 5, "an outage must not hang requests"
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False

        proxy.port = port
        await proxy.start()
        deadline = time.monotonic() + 15
        while (await client.get(job_url)).status_code != 200:
            assert time.monotonic() < deadline, "server did not recover after the outage"
        assert (await client.post("/v1/jobs", json={"type": "after"})).status_code == 201
    await proxy.cut()
