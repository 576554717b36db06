"""The dashboard in a real browser against a real server: log in, watch a job arrive, fail it
to the dead letters, retry it from the page and see it succeed; markup in a job type stays text;
the page talks to no other host."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import API_KEY, Server
from tests.e2e.process import ARTIFACTS

XSS = "<img src=x onerror=alert(1)>"
WAIT_MS = 10_000


class Watch:
    """Every request the page makes and every dialog it opens."""

    def __init__(self, page: Page) -> None:
        self.hosts: set[str] = set()
        self.dialogs: list[str] = []
        page.on("request", lambda request: self.hosts.add(urlsplit(request.url).netloc))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def log_in(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/")
    expect(page).to_have_url(re.compile(r"/dashboard/login$"))
    page.fill("#api_key", "wrong-key")
    page.click("#login")
    expect(page.get_by_role("alert")).to_have_text("Invalid API key.")
    page.fill("#api_key", API_KEY)
    shot(page, "login")
    page.click("#login")
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def queue_cell(page: Page, queue: str, status: str) -> Any:
    return page.locator(f'#queues tr[data-queue="{queue}"] td.count-{status}')


def test_operator_journey(server: Server, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    log_in(page, server)
    (cookie,) = [c for c in context.cookies() if c["name"] == "quorra_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert API_KEY not in page.content() and API_KEY not in page.url
    expect(page.locator("#mode-banner")).to_have_text("Postgres-only dispatch")

    # A job created through the API appears, and the counts follow it, without a reload.
    job_id = server.create(type="report.build", queue="e2e", max_retries=0,
                           payload={"month": "2026-11", "pages": [1, 2]})
    expect(queue_cell(page, "e2e", "pending")).to_have_text("1", timeout=WAIT_MS)
    expect(page.locator(f'#jobs tr[data-job-id="{job_id}"]')).to_be_visible(timeout=WAIT_MS)
    job = server.lease("e2e")
    expect(queue_cell(page, "e2e", "leased")).to_have_text("1", timeout=WAIT_MS)
    server.fail(job, "printer on fire")
    expect(queue_cell(page, "e2e", "dead")).to_have_text("1", timeout=WAIT_MS)
    dead_row = page.locator(f'#dead tr[data-job-id="{job_id}"]')
    expect(dead_row).to_contain_text("printer on fire", timeout=WAIT_MS)

    # Markup in a job type is shown as text and never runs.
    xss_id = server.create(type=XSS, queue="e2e-xss")
    xss_row = page.locator(f'#jobs tr[data-job-id="{xss_id}"]')
    expect(xss_row.locator("td").nth(1)).to_have_text(XSS, timeout=WAIT_MS)
    assert page.locator("#jobs img").count() == 0
    shot(page, "overview")
    page.fill("#f-type", XSS)
    page.click("#filters button[type=submit]")
    expect(page.locator("#jobs tbody tr")).to_have_count(1, timeout=WAIT_MS)
    page.click("#f-clear")
    expect(page.locator("#jobs tbody tr")).to_have_count(2, timeout=WAIT_MS)

    # The job's page, then retry from it; a worker runs it and it succeeds.
    dead_row.locator("a").click()
    expect(page).to_have_url(re.compile(f"/dashboard/jobs/{job_id}$"))
    expect(page.locator("#job-status")).to_have_text("dead")
    expect(page.locator("#job-payload")).to_contain_text('"month": "2026-11"')
    expect(page.locator("#job-error")).to_have_text("printer on fire")
    shot(page, "job-dead")
    page.click("#retry")
    expect(page.locator("#job-status")).to_have_text("pending", timeout=WAIT_MS)
    expect(page.locator("#job-attempts")).to_have_text("0 of 1")
    server.succeed(server.lease("e2e"), {"pages": 2})
    page.reload()
    expect(page.locator("#job-status")).to_have_text("succeeded")
    expect(page.locator("#job-result")).to_contain_text('"pages": 2')
    shot(page, "job-succeeded")

    # Retry-all for a queue, and delete from the dead letters.
    page.goto(f"{server.url}/dashboard")
    for _ in range(2):
        server.create(type="sync", queue="e2e-bulk", max_retries=0)
        server.fail(server.lease("e2e-bulk"), "upstream down")
    expect(queue_cell(page, "e2e-bulk", "dead")).to_have_text("2", timeout=WAIT_MS)
    page.locator('#queues tr[data-queue="e2e-bulk"] button.retry-all').click()
    expect(queue_cell(page, "e2e-bulk", "pending")).to_have_text("2", timeout=WAIT_MS)
    doomed = server.create(type="obsolete", queue="e2e-del", max_retries=0)
    server.fail(server.lease("e2e-del"), "no longer needed")
    row = page.locator(f'#dead tr[data-job-id="{doomed}"]')
    row.locator("button.delete").click(timeout=WAIT_MS)
    expect(row).to_have_count(0, timeout=WAIT_MS)
    with server.api() as client:
        assert client.get(f"/v1/jobs/{doomed}").status_code == 404

    # Log out: the session is gone for the dashboard's endpoints too.
    page.click("header .logout button")
    expect(page).to_have_url(re.compile(r"/dashboard/login$"))
    assert page.request.get(f"{server.url}/dashboard/api/overview").status == 401
    context.close()

    assert [d for d in watch.dialogs if not d.startswith("confirm")] == [], watch.dialogs
    assert watch.hosts == {urlsplit(server.url).netloc}, watch.hosts


def test_cancel_button_on_a_pending_job(server: Server, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    log_in(page, server)
    job_id = server.create(type="obsolete.report", queue="e2e-cancel", delay_seconds=3600)
    page.goto(f"{server.url}/dashboard/jobs/{job_id}")
    expect(page.locator("#job-status")).to_have_text("pending")
    page.click("#cancel")
    expect(page.locator("#job-status")).to_have_text("cancelled", timeout=WAIT_MS)
    expect(page.locator("#cancel")).to_have_count(0)
    assert any("Cancel this job?" in d for d in watch.dialogs), watch.dialogs
    with server.api() as client:
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    context.close()


def test_search_box_by_payload_and_id_prefix(server: Server, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    log_in(page, server)
    expect(page.locator("#servers tbody tr")).to_have_count(1, timeout=WAIT_MS)  # this one
    expect(page.locator("#servers tbody tr td").nth(2)).to_have_text("live")
    first = server.create(type="mail", queue="e2e-search", payload={"user": 42, "note": XSS})
    second = server.create(type="mail", queue="e2e-search", payload={"user": 42})
    server.create(type="mail", queue="e2e-search", payload={"user": 7})
    rows = page.locator("#jobs tbody tr")
    page.fill("#f-queue", "e2e-search")
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(3, timeout=WAIT_MS)

    page.fill("#f-payload", '{"user": 42}')
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator(f'#jobs tr[data-job-id="{second}"]')).to_be_visible()
    page.fill("#f-payload", f'{{"note": "{XSS}"}}')  # markup in a search term stays text
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator(f'#jobs tr[data-job-id="{first}"]')).to_be_visible()
    assert page.locator("img").count() == 0

    page.fill("#f-payload", "")
    page.fill("#f-id-prefix", str(second)[:-1])
    page.click("#filters button[type=submit]")
    expect(rows).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator(f'#jobs tr[data-job-id="{second}"]')).to_be_visible()
    shot(page, "search")

    page.fill("#f-id-prefix", "")
    page.fill("#f-payload", f"[{XSS}")  # not a JSON object: said under the form, as text
    page.click("#filters button[type=submit]")
    expect(page.locator("#jobs-error")).to_contain_text("payload", timeout=WAIT_MS)
    expect(rows).to_have_count(0)
    assert page.locator("img").count() == 0
    page.click("#f-clear")
    expect(page.locator("#jobs-error")).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator(f'#jobs tr[data-job-id="{first}"]')).to_be_visible(timeout=WAIT_MS)
    context.close()
    assert [d for d in watch.dialogs if not d.startswith("confirm")] == [], watch.dialogs


def test_schedules_and_queue_limits_on_the_overview(server: Server, browser: Any) -> None:
    name = f"e2e-{XSS}"[:60].replace("<", "x").replace(">", "y").replace(" ", "-")
    with server.api() as client:
        made = client.put(f"/v1/schedules/{name}",
                          json={"cron": "0 3 * * *", "timezone": "Europe/Paris",
                                "job": {"type": XSS, "queue": "e2e-nightly"}})
        assert made.status_code == 200, made.text
        limited = client.put("/v1/queues/e2e-limited/limits",
                             json={"max_concurrency": 3, "rate_limit": 50, "rate_period": 1})
        assert limited.status_code == 200, limited.text
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, server)
    row = page.locator(f'#schedules tr[data-schedule="{name}"]')
    expect(row).to_contain_text("0 3 * * *", timeout=WAIT_MS)
    expect(row).to_contain_text("Europe/Paris")
    expect(row).to_contain_text(f"{XSS} → e2e-nightly")  # a job type with markup stays text
    assert page.locator("#schedules img").count() == 0
    expect(page.locator('#queues tr[data-queue="e2e-limited"]')).to_contain_text(
        "3 at once, 50 per 1s")
    row.locator("button.pause").click()
    expect(row).to_have_attribute("data-paused", "true", timeout=WAIT_MS)
    with server.api() as client:
        assert client.get(f"/v1/schedules/{name}").json()["paused"] is True
    shot(page, "schedules")
    row.locator("button.resume").click()
    expect(row).to_have_attribute("data-paused", "false", timeout=WAIT_MS)
    with server.api() as client:
        client.delete(f"/v1/schedules/{name}")
        client.delete("/v1/queues/e2e-limited/limits")
    context.close()


def test_webhooks_and_their_deliveries_on_the_overview(server: Server, browser: Any) -> None:
    """A subscription (its URL carrying markup, shown as text; its secret nowhere on the page)
    and the delivery a finished job made (the server cannot reach the URL: a failed attempt)."""
    with server.api() as client:
        made = client.post("/v1/webhooks", json={
            "url": f"https://127.0.0.1:9/{XSS}", "events": ["job.succeeded"],
            "queue": "e2e-hooks"})
        assert made.status_code == 201, made.text
    hook, secret = made.json()["id"], made.json()["secret"]
    job = server.create(type="t", queue="e2e-hooks")
    server.succeed(server.lease("e2e-hooks"), {"ok": True})
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, server)
    row = page.locator(f'#webhooks tr[data-webhook="{hook}"]')
    expect(row).to_contain_text(f"https://127.0.0.1:9/{XSS}", timeout=WAIT_MS)
    expect(row).to_contain_text("job.succeeded")
    expect(row).to_contain_text("enabled")
    delivery = page.locator("#deliveries tbody tr").first
    expect(delivery).to_contain_text("job.succeeded", timeout=WAIT_MS)
    expect(delivery).to_contain_text(str(job)[:8])
    expect(delivery).to_contain_text("request failed", timeout=WAIT_MS)
    assert page.locator("#webhooks-card img").count() == 0
    assert secret not in page.content()
    shot(page, "webhooks")
    with server.api() as client:
        assert client.delete(f"/v1/webhooks/{hook}").status_code == 204
    context.close()


def test_metrics_page_is_open_and_counts(server: Server) -> None:
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    assert 'quorra_dispatch_mode{mode="postgres"} 1.0' in text
    assert "quorra_workers_connected 0.0" in text
