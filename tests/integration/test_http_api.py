"""REST API v1 against a real Postgres store: routes, shapes, bad input, auth."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from quorra.bootstrap import Runtime
from tests.integration.conftest import API_KEY

Client = httpx.AsyncClient


async def count_jobs(client: Client) -> int:
    body = (await client.get("/v1/queues")).json()
    return sum(q["count"] for q in body["queues"])


class TestRoutes:
    async def test_goquorra_create_example(self, client: Client) -> None:
        body = {"type": "email_send", "payload": {"to": "test@example.com", "subject": "Hello"},
                "queue": "default", "priority": 10, "max_retries": 3}
        created = await client.post("/v1/jobs", json=body)
        assert created.status_code == 201
        data = created.json()
        assert set(data) == {"id", "status", "run_at"} and data["status"] == "pending"
        job = (await client.get(f"/v1/jobs/{data['id']}")).json()
        assert job["type"] == "email_send" and job["payload"] == body["payload"]
        assert (job["priority"], job["max_retries"], job["attempts"]) == (10, 3, 0)
        assert job["run_at"] == data["run_at"] and job["run_at"].endswith("Z")
        for field in ("created_at", "updated_at", "queue", "status"):
            assert field in job
        assert "lease_id" not in job

    async def test_defaults(self, client: Client) -> None:
        created = (await client.post("/v1/jobs", json={"type": "t"})).json()
        job = (await client.get(f"/v1/jobs/{created['id']}")).json()
        assert (job["queue"], job["priority"], job["max_retries"], job["payload"]) == (
            "default", 0, 3, {})

    async def test_batch_in_order_and_queues(self, client: Client) -> None:
        jobs = [{"type": f"t{i}", "queue": "q1" if i % 2 else "q2"} for i in range(10)]
        answer = await client.post("/v1/jobs/batch", json={"jobs": jobs})
        assert answer.status_code == 201
        ids = [j["id"] for j in answer.json()["jobs"]]
        types = [(await client.get(f"/v1/jobs/{i}")).json()["type"] for i in ids]
        assert types == [f"t{i}" for i in range(10)]
        queues = (await client.get("/v1/queues")).json()["queues"]
        assert queues == [{"queue": "q1", "status": "pending", "count": 5},
                          {"queue": "q2", "status": "pending", "count": 5}]

    async def test_batch_of_1000_is_accepted(self, client: Client) -> None:
        answer = await client.post("/v1/jobs/batch", json={"jobs": [{"type": "x"}] * 1000})
        assert answer.status_code == 201 and len(answer.json()["jobs"]) == 1000

    async def test_empty_lists_are_lists(self, client: Client) -> None:
        assert (await client.get("/v1/queues")).json() == {"queues": [], "paused": [], "limits": {}}
        assert (await client.get("/v1/recent")).json() == {"jobs": []}

    async def test_recent_newest_first_with_limit(self, client: Client) -> None:
        ids = [(await client.post("/v1/jobs", json={"type": f"r{i}"})).json()["id"]
               for i in range(5)]
        recent = (await client.get("/v1/recent", params={"limit": 3})).json()["jobs"]
        assert [j["id"] for j in recent] == ids[::-1][:3]

    @pytest.mark.parametrize("limit", ["0", "1001", "abc", "-1"])
    async def test_recent_bad_limit(self, client: Client, limit: str) -> None:
        answer = await client.get("/v1/recent", params={"limit": limit})
        assert answer.status_code == 400 and "limit" in answer.json()["error"]

    async def test_missing_job_is_404(self, client: Client) -> None:
        for job_id in (str(uuid.uuid4()), "not-a-uuid"):
            answer = await client.get(f"/v1/jobs/{job_id}")
            assert answer.status_code == 404
            assert answer.json() == {"error": "Job not found."}

    async def test_leased_job_shows_lease_fields(self, client: Client, runtime: Runtime) -> None:
        created = (await client.post("/v1/jobs", json={"type": "t"})).json()
        await runtime.service.lease(["default"], worker_id="w1", limit=1)
        job = (await client.get(f"/v1/jobs/{created['id']}")).json()
        assert job["status"] == "leased" and job["leased_by"] == "w1"
        assert {"lease_id", "leased_at", "lease_expires_at"} <= set(job)

    async def test_openapi_documents_errors(self, client: Client) -> None:
        spec = (await client.get("/schema/openapi.json")).json()
        post = spec["paths"]["/v1/jobs"]["post"]
        assert {"400", "401", "413", "503"} <= set(post["responses"])
        assert post["requestBody"]["content"]["application/json"]["schema"]["required"] == ["type"]
        assert "404" in spec["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]

    async def test_health_and_metrics_need_no_key(self, client: Client) -> None:
        del client.headers["X-API-Key"]
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["postgres"] == "ok"
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200 and "quorra_jobs_created_total" in metrics.text


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("missing type", {"payload": {}}, "type"),
    ("empty type", {"type": ""}, "type"),
    ("type not a string", {"type": 5}, "type"),
    ("payload array", {"type": "t", "payload": [1, 2]}, "payload"),
    ("payload string", {"type": "t", "payload": "x"}, "payload"),
    ("priority as string", {"type": "t", "priority": "5"}, "priority"),
    ("priority float", {"type": "t", "priority": 1.5}, "priority"),
    ("priority bool", {"type": "t", "priority": True}, "priority"),
    ("priority too high", {"type": "t", "priority": 1_000_001}, "priority"),
    ("priority too low", {"type": "t", "priority": -1_000_001}, "priority"),
    ("negative delay", {"type": "t", "delay_seconds": -1}, "delay_seconds"),
    ("absurd delay", {"type": "t", "delay_seconds": 10**9}, "delay_seconds"),
    ("negative retries", {"type": "t", "max_retries": -1}, "max_retries"),
    ("too many retries", {"type": "t", "max_retries": 101}, "max_retries"),
    ("unknown field", {"type": "t", "colour": "red"}, "colour"),
    ("NUL in type", {"type": "a\u0000b"}, "type"),
    ("NUL in payload", {"type": "t", "payload": {"k": "a\u0000"}}, "payload.k"),
    ("NUL in payload key", {"type": "t", "payload": {"a\u0000": 1}}, "payload"),
    ("bad queue", {"type": "t", "queue": "a b"}, "queue"),
    ("naive run_at", {"type": "t", "run_at": "2030-01-01T00:00:00"}, "run_at"),
    ("run_at offset Postgres cannot store", {"type": "t", "run_at": "0075-08-26T05:54:58+16:10"},
     "run_at"),
    ("run_at before 1970", {"type": "t", "run_at": "1969-12-31T23:59:59Z"}, "run_at"),
    ("run_at past the delay limit", {"type": "t", "run_at": "9999-12-31T23:59:59-12:00"},
     "run_at"),
    ("body not an object", [1, 2], "body"),
]

RAW_BODIES = [
    ("malformed JSON", b'{"type": "t",'),
    ("NaN", b'{"type": "t", "payload": {"x": NaN}}'),
    ("Infinity", b'{"type": "t", "payload": {"x": Infinity}}'),
    ("huge number", b'{"type": "t", "payload": {"x": 1e999}}'),
    ("lone surrogate", b'{"type": "t", "payload": {"x": "\\ud800"}}'),
    ("lone surrogate in type", b'{"type": "\\udfff"}'),
    ("empty body", b""),
    ("nested 1,000 levels", b'{"type": "t", "payload": {"a": ' + b"[" * 1000 + b"]" * 1000
     + b"}}"),
    ("nested 100,000 levels", b'{"type": "t", "payload": {"a": ' + b"[" * 100_000
     + b"]" * 100_000 + b"}}"),
]


class TestBadInput:
    @pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
    async def test_rejected_naming_field(self, client: Client, case: str, body: Any,
                                         field: str) -> None:
        answer = await client.post("/v1/jobs", json=body)
        assert answer.status_code == 400, answer.text
        error = answer.json()
        assert field in error["error"], f"{case}: {error}"
        assert await count_jobs(client) == 0

    @pytest.mark.parametrize(("case", "raw"), RAW_BODIES, ids=[c[0] for c in RAW_BODIES])
    async def test_raw_rejected(self, client: Client, case: str, raw: bytes) -> None:
        answer = await client.post("/v1/jobs", content=raw,
                                   headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, f"{case}: {answer.text}"
        assert "error" in answer.json()
        assert await count_jobs(client) == 0

    async def test_batch_is_all_or_nothing(self, client: Client) -> None:
        jobs = [{"type": "ok"}] * 5 + [{"type": "bad", "priority": "high"}]
        answer = await client.post("/v1/jobs/batch", json={"jobs": jobs})
        assert answer.status_code == 400
        assert "jobs[5].priority" in answer.json()["error"]
        assert await count_jobs(client) == 0

    async def test_empty_batch(self, client: Client) -> None:
        answer = await client.post("/v1/jobs/batch", json={"jobs": []})
        assert answer.status_code == 400 and "jobs" in answer.json()["error"]

    async def test_batch_over_limit_is_413(self, client: Client) -> None:
        answer = await client.post("/v1/jobs/batch", json={"jobs": [{"type": "x"}] * 1001})
        assert answer.status_code == 413 and "jobs" in answer.json()["error"]
        assert await count_jobs(client) == 0

    async def test_payload_over_limit_is_413(self, client: Client) -> None:
        big = {"type": "t", "payload": {"blob": "x" * (1024 * 1024 + 1)}}
        answer = await client.post("/v1/jobs", json=big)
        assert answer.status_code == 413 and "payload" in answer.json()["error"]
        assert await count_jobs(client) == 0

    async def test_body_over_limit_is_413(self, client: Client) -> None:
        raw = b'{"type": "t", "payload": {"blob": "' + b"x" * (11 * 1024 * 1024) + b'"}}'
        answer = await client.post("/v1/jobs", content=raw,
                                   headers={"Content-Type": "application/json"})
        assert answer.status_code == 413 and "error" in answer.json()
        assert await count_jobs(client) == 0


class TestAuth:
    @pytest.mark.parametrize("route", ["/v1/queues", "/v1/recent", f"/v1/jobs/{uuid.uuid4()}"])
    async def test_no_key(self, client: Client, route: str) -> None:
        del client.headers["X-API-Key"]
        answer = await client.get(route)
        assert answer.status_code == 401
        assert answer.json() == {"error": "Invalid or missing API key"}

    async def test_wrong_key_creates_nothing(self, client: Client) -> None:
        answer = await client.post("/v1/jobs", json={"type": "t"},
                                   headers={"X-API-Key": API_KEY + "x"})
        assert answer.status_code == 401
        assert await count_jobs(client) == 0

    async def test_header_and_query(self, client: Client) -> None:
        del client.headers["X-API-Key"]
        assert (await client.get("/v1/queues", headers={"X-API-Key": API_KEY})).status_code == 200
        assert (await client.get("/v1/queues", params={"api_key": API_KEY})).status_code == 200
        assert (await client.get("/v1/queues", params={"api_key": "nope"})).status_code == 401

    async def test_non_ascii_key_is_just_wrong(self, client: Client) -> None:
        del client.headers["X-API-Key"]
        answer = await client.get("/v1/queues", params={"api_key": "ключ"})
        assert answer.status_code == 401
