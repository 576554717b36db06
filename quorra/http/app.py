"""``create_app``: the Litestar application over a ``JobService``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from prometheus_client import CollectorRegistry

from quorra import __version__
from quorra.core.keys import Keyring
from quorra.core.spec import Limits
from quorra.core.throttle import FailureThrottle
from quorra.http.admin import AdminController
from quorra.http.auth import attach_rules
from quorra.http.cluster import ClusterController
from quorra.http.dashboard import SessionSigner, dashboard_router, dashboard_templates
from quorra.http.errors import EXCEPTION_HANDLERS
from quorra.http.jobs import JobsController
from quorra.http.keys import KeysController
from quorra.http.schedules import SchedulesController
from quorra.http.system import healthz, metrics, readyz
from quorra.http.webhooks import WebhooksController
from quorra.keys import KeyService
from quorra.replicas import Cluster, new_identity
from quorra.scheduling import ScheduleService
from quorra.service import JobService
from quorra.throughput import Throughput
from quorra.webhook_service import WebhookService
from quorra.worker_directory import WorkerDirectory

__all__ = ["create_app"]

Readiness = Callable[[], Awaitable[dict[str, Any]]]
Liveness = Callable[[], Awaitable[str | None]]


async def _alive() -> str | None:
    return None


def create_app(service: JobService, *, api_key: str, registry: CollectorRegistry,
               readiness: Readiness, liveness: Liveness = _alive,
               limits: Limits | None = None,
               max_body_bytes: int = 10 * 1024 * 1024, debug: bool = False,
               workers: WorkerDirectory | None = None,
               dispatch_mode: Callable[[], str] = lambda: "postgres",
               throughput: Throughput | None = None,
               schedules: ScheduleService | None = None,
               keyring: Keyring | None = None, keys: KeyService | None = None,
               throttle: FailureThrottle | None = None,
               protect_metrics: bool = False,
               webhooks: WebhookService | None = None,
               cluster: Cluster | None = None) -> Litestar:
    """``keyring``: the keys accepted (default: ``api_key`` alone, as admin); ``keys``: the
    admin API's service (``None``: ``/v1/keys`` answers 503); ``protect_metrics``: ``/metrics``
    and ``/readyz``'s details need an operator or admin key; ``webhooks``: the webhook API's
    service (``None``: ``/v1/webhooks`` answers 503); ``cluster``: every replica's workers and
    throughput (``None``: this replica alone)."""
    openapi = OpenAPIConfig(
        title="Quorra", version=__version__,
        description="Distributed job queue: Redis speed with Postgres truth.",
        components=Components(security_schemes={
            "apiKey": SecurityScheme(type="apiKey", name="X-API-Key",
                                     security_scheme_in="header"),
            "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT",
                                     description="A JWT (when enabled) or an API key")}),
    )
    workers = workers or WorkerDirectory()
    throughput = throughput or Throughput(service.metrics)
    cluster = cluster or Cluster(new_identity(time.time()), workers, throughput)
    app = Litestar(
        route_handlers=[JobsController, AdminController, ClusterController, SchedulesController,
                        KeysController, WebhooksController, healthz, readyz, metrics,
                        dashboard_router()],
        template_config=dashboard_templates(),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi,
        request_max_body_size=max_body_bytes,
        state=State({"service": service, "api_key": api_key.encode(), "limits": limits or Limits(),
                     "registry": registry, "readiness": readiness, "liveness": liveness,
                     "workers": workers, "dispatch_mode": dispatch_mode,
                     "throughput": throughput, "cluster": cluster,
                     "session_signer": SessionSigner(api_key.encode()),
                     "schedules": schedules, "key_service": keys,
                     "keyring": keyring or Keyring(api_key), "metrics": service.metrics,
                     "throttle": throttle or FailureThrottle(),
                     "protect_metrics": protect_metrics, "webhooks": webhooks}),
        debug=debug,
    )
    attach_rules(app)
    return app
