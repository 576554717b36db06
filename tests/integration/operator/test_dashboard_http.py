"""Dashboard auth over HTTP: the login form, session-only JSON endpoints, CSRF on changes."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.contract.conftest import spec
from tests.integration.operator.conftest import API_KEY, Stack

Client = AsyncTestClient[Litestar]
ORIGIN = "http://testserver.local"


async def log_in(client: Client) -> str:
    """Log in through the form; returns the page's CSRF token."""
    form = (await client.get("/dashboard/login")).text
    nonce = re.search(r'name="nonce" value="([^"]+)"', form)
    assert nonce is not None
    response = await client.post("/dashboard/login", data={"nonce": nonce[1], "api_key": API_KEY},
                               follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    page = await client.get("/dashboard")
    assert page.status_code == 200 and API_KEY not in page.text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token is not None
    return token[1]


async def test_pages_need_a_session(stack: Stack) -> None:
    async with AsyncTestClient(app=stack.app) as client:
        for path in ("/", "/dashboard", "/dashboard/jobs/whatever"):
            response = await client.get(path, follow_redirects=False)
            assert (response.status_code, response.headers["location"]) == (
                303, "/dashboard/login"), path
        assert (await client.get("/dashboard/api/overview")).status_code == 401
        # The API key opens the API, not the dashboard's endpoints.
        keyed = await client.get("/dashboard/api/overview", headers={"X-API-Key": API_KEY})
        assert keyed.status_code == 401


async def test_login_refuses_a_wrong_key_and_a_forged_form(stack: Stack) -> None:
    async with AsyncTestClient(app=stack.app) as client:
        form = (await client.get("/dashboard/login")).text
        nonce = re.search(r'name="nonce" value="([^"]+)"', form)
        assert nonce is not None
        wrong = await client.post("/dashboard/login", data={"nonce": nonce[1], "api_key": "x"})
        assert wrong.status_code == 401 and "quorra_session" not in wrong.headers.get(
            "set-cookie", "")
        client.cookies.clear()
        forged = await client.post("/dashboard/login",
                                   data={"nonce": "made-up", "api_key": API_KEY})
        assert forged.status_code == 403


async def test_session_cookie_is_httponly_strict(stack: Stack) -> None:
    async with AsyncTestClient(app=stack.app) as client:
        form = (await client.get("/dashboard/login")).text
        nonce = re.search(r'name="nonce" value="([^"]+)"', form)
        assert nonce is not None
        response = await client.post("/dashboard/login",
                                     data={"nonce": nonce[1], "api_key": API_KEY},
                                     follow_redirects=False)
        cookies = response.headers.get_list("set-cookie")
        (session,) = [c for c in cookies if c.startswith("quorra_session=")]
        assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session


async def test_changes_need_the_csrf_token_and_same_origin(stack: Stack) -> None:
    (job,) = await stack.service.enqueue([spec(queue="c", max_retries=0)])
    (leased,) = await stack.service.lease(["c"], worker_id="w", limit=1)
    assert leased.lease_id is not None
    await stack.service.nack(leased.id, leased.lease_id, "x")
    async with AsyncTestClient(app=stack.app) as client:
        token = await log_in(client)
        path = f"/dashboard/api/jobs/{job.id}/retry"
        assert (await client.post(path)).status_code == 403
        assert (await client.post(path, headers={"X-CSRF-Token": "nope"})).status_code == 403
        evil = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
        assert (await client.post(path, headers=evil)).status_code == 403
        ok = await client.post(path, headers={"X-CSRF-Token": token,
                                              "Origin": ORIGIN})
        assert ok.status_code == 200 and ok.json()["status"] == "pending"
        again = await client.post(path, headers={"X-CSRF-Token": token})
        assert again.status_code == 409
        assert (await client.post("/dashboard/logout", data={"csrf": "nope"})).status_code == 403
        out = await client.post("/dashboard/logout", data={"csrf": token},
                                follow_redirects=False)
        assert out.status_code == 303
        assert (await client.get("/dashboard/api/overview")).status_code == 401


async def test_non_ascii_nonce_token_and_cookie_are_refused_not_500(stack: Stack) -> None:
    async with AsyncTestClient(app=stack.app) as client:
        await client.get("/dashboard/login")
        login = await client.post("/dashboard/login", data={"nonce": "été", "api_key": API_KEY})
        assert login.status_code == 403
        token = await log_in(client)
        path = "/dashboard/api/overview"
        assert (await client.get(path)).status_code == 200
        bad = await client.post("/dashboard/logout", data={"csrf": token[:-1] + "é"})
        assert bad.status_code == 403
        client.cookies.clear()
        cookie = "quorra_session=été.signé".encode()
        assert (await client.get(path, headers={b"Cookie": cookie})).status_code == 401


async def test_overview_and_listing(stack: Stack) -> None:
    await stack.service.enqueue([spec("a", queue="q1"), spec("b", queue="q1"),
                                 spec("c", queue="q2")])
    stack.workers.connect("s1", "worker-9", ["q1"])
    async with AsyncTestClient(app=stack.app) as client:
        await log_in(client)
        overview = (await client.get("/dashboard/api/overview")).json()
        assert overview["mode"] == "postgres"
        assert [(q["queue"], q["counts"]["pending"], q["total"]) for q in overview["queues"]] == [
            ("q1", 2, 2), ("q2", 1, 1)]
        assert [w["worker_id"] for w in overview["workers"]] == ["worker-9"]
        page = (await client.get("/dashboard/api/jobs", params={"queue": "q1", "limit": 1})).json()
        assert [j["type"] for j in page["jobs"]] == ["b"] and page["next_cursor"]
        bad = await client.get("/dashboard/api/jobs", params={"status": "nope"})
        assert bad.status_code == 400 and "status" in bad.json()["error"]


async def test_job_page_escapes_and_pretty_prints(stack: Stack) -> None:
    (job,) = await stack.service.enqueue([spec("<img src=x onerror=alert(1)>",
                                               payload={"html": "<b>hi</b>", "n": 1})])
    async with AsyncTestClient(app=stack.app) as client:
        await log_in(client)
        page = await client.get(f"/dashboard/jobs/{job.id}")
        assert page.status_code == 200
        assert "<img src=x" not in page.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
        assert "&#34;html&#34;: &#34;&lt;b&gt;hi&lt;/b&gt;&#34;,\n  &#34;n&#34;: 1" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        missing = await client.get("/dashboard/jobs/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404
