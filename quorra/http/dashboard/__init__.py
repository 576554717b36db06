"""The operator dashboard: Jinja pages, static JS/CSS (no build step, nothing from a CDN) and
the JSON endpoints the pages poll. See docs/dashboard.md."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Router
from litestar.datastructures import ResponseHeader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from quorra.http.dashboard.api import DashboardApi
from quorra.http.dashboard.pages import PAGES
from quorra.http.dashboard.session import SessionSigner

__all__ = ["SessionSigner", "dashboard_router", "dashboard_templates"]

_HERE = Path(__file__).parent

# Scripts and styles only from this server; no inline script, no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
_HEADERS = [
    ResponseHeader(name="Content-Security-Policy", value=CSP),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ResponseHeader(name="Cache-Control", value="no-store"),
]


def dashboard_templates() -> TemplateConfig[JinjaTemplateEngine]:
    environment = Environment(loader=FileSystemLoader(_HERE / "templates"),
                              autoescape=select_autoescape(default=True, default_for_string=True),
                              undefined=StrictUndefined)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def dashboard_router() -> Router:
    static = create_static_files_router(path="/dashboard/static", directories=[_HERE / "static"],
                                        name="static", include_in_schema=False)
    return Router(path="/", route_handlers=[*PAGES, DashboardApi, static],
                  response_headers=_HEADERS, include_in_schema=False)
