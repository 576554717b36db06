"""The dashboard's HTML pages: login, logout, the live overview and a job's page."""

from __future__ import annotations

import json
import secrets
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import Cookie, State
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from quorra.core.errors import JobNotFound
from quorra.core.jobs import JobStatus
from quorra.core.keys import Keyring, Permission, Principal, key_id_of
from quorra.core.throttle import FailureThrottle
from quorra.http.auth import client_address, equal_secrets, failure_reason
from quorra.http.dashboard.guards import current_session, same_origin, signer
from quorra.http.dashboard.session import SESSION_COOKIE
from quorra.http.jobs import parse_job_id
from quorra.service import JobService

__all__ = ["PAGES"]

LOGIN_COOKIE = "quorra_login"
LOGIN_PATH = "/dashboard/login"
AnyRequest = Request[Any, Any, Any]


def _cookie(request: AnyRequest, key: str, value: str, path: str, max_age: int) -> Cookie:
    return Cookie(key=key, value=value, path=path, max_age=max_age, httponly=True,
                  samesite="strict", secure=request.url.scheme == "https")


def _to_login() -> Redirect:
    return Redirect(LOGIN_PATH, status_code=303)


def _page(request: AnyRequest, name: str, status: int = 200,
          **context: Any) -> Template | Redirect:
    """A page for a logged-in operator, with the session's CSRF token; else the login page."""
    session = current_session(request)
    if session is None:
        return _to_login()
    state = request.app.state
    return Template(template_name=name, status_code=status, context={
        "csrf": signer(request).csrf_token(session), "mode": state.dispatch_mode(), **context})


@get(["/", "/dashboard"], include_in_schema=False)
async def index(request: AnyRequest) -> Template | Redirect:
    return _page(request, "index.html.j2")


def _login_form(request: AnyRequest, error: str | None, status: int) -> Template:
    nonce = secrets.token_urlsafe(16)
    return Template(template_name="login.html.j2", context={"nonce": nonce, "error": error},
                    status_code=status,
                    cookies=[_cookie(request, LOGIN_COOKIE, nonce, LOGIN_PATH, 600)])


@get(LOGIN_PATH, include_in_schema=False)
async def login_page(request: AnyRequest) -> Template | Redirect:
    if current_session(request) is not None:
        return Redirect("/dashboard", status_code=303)
    return _login_form(request, None, 200)


@post(LOGIN_PATH, include_in_schema=False, status_code=303)
async def login(request: AnyRequest) -> Template | Redirect:
    form = await request.form()
    nonce = str(form.get("nonce", ""))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not (same_origin(request) and expected and equal_secrets(nonce, expected)):
        return _login_form(request, "The login form expired; try again.", 403)
    given = str(form.get("api_key", "")).encode("utf-8", "surrogatepass")
    state = request.app.state
    keyring: Keyring = state.keyring
    principal = await keyring.verify(given)
    if principal is None:
        return _login_failed(request, given)
    if not _may_log_in(principal):
        state.metrics.auth_failed("dashboard", "denied")
        return _login_form(request, "This key may not use the dashboard (it needs the operator "
                                    "or admin role, for every queue, of no tenant).", 403)
    issued = signer(request).issue(principal.key_id, principal.role.value,
                                   tenant=principal.tenant, until=principal.expires)
    cookie = _cookie(request, SESSION_COOKIE, issued, "/", signer(request).max_age)
    gone = _cookie(request, LOGIN_COOKIE, "", LOGIN_PATH, 0)
    return Redirect("/dashboard", status_code=303, cookies=[cookie, gone])


def _may_log_in(principal: Principal) -> bool:
    return principal.may(Permission.DASHBOARD) and principal.every_queue and \
        principal.tenant is None


def _login_failed(request: AnyRequest, given: bytes) -> Template:
    """401, or 429 with ``Retry-After`` once this client or key id failed too often."""
    throttle: FailureThrottle = request.app.state.throttle
    wait = throttle.failed(client_address(request), key_id_of(given))
    if wait is None:
        request.app.state.metrics.auth_failed("dashboard", failure_reason(given))
        return _login_form(request, "Invalid API key.", 401)
    request.app.state.metrics.auth_failed("dashboard", "throttled")
    page = _login_form(request, f"Too many failed attempts; try again in {wait} s.", 429)
    page.headers["Retry-After"] = str(wait)
    return page


@post("/dashboard/logout", include_in_schema=False, status_code=303)
async def logout(request: AnyRequest) -> Redirect:
    session = current_session(request)
    form = await request.form()
    if session is not None and not (
            same_origin(request) and signer(request).csrf_ok(session, str(form.get("csrf", "")))):
        raise PermissionDeniedException(detail="Missing or invalid CSRF token")
    return Redirect(LOGIN_PATH, status_code=303,
                    cookies=[_cookie(request, SESSION_COOKIE, "", "/", 0)])


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@get("/dashboard/jobs/{job_id:str}", include_in_schema=False)
async def job_detail_page(request: AnyRequest, job_id: FromPath[str],
                          state: State) -> Template | Redirect:
    if current_session(request) is None:
        return _to_login()
    service: JobService = state.service
    try:
        job = await service.get(parse_job_id(job_id))
    except JobNotFound:
        return _page(request, "missing.html.j2", 404, job_id=job_id)
    return _page(request, "job.html.j2", job=job, payload=_pretty(job.payload),
                 result=None if job.result is None else _pretty(job.result),
                 can_retry=job.status in (JobStatus.DEAD, JobStatus.CANCELLED),
                 can_delete=job.status is not JobStatus.LEASED,
                 can_cancel=job.status in (JobStatus.PENDING, JobStatus.BLOCKED,
                                           JobStatus.LEASED))


PAGES = [index, login_page, login, logout, job_detail_page]
