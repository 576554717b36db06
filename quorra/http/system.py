"""Open endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["healthz", "metrics", "readyz"]


@get("/healthz", media_type=MediaType.TEXT, tags=["system"], summary="Liveness")
async def healthz() -> str:
    return "ok"


@get("/readyz", tags=["system"], summary="Readiness: the store (and Redis when configured)")
async def readyz(state: State) -> Response[dict[str, Any]]:
    report: dict[str, Any] = await state.readiness()
    return Response(report, status_code=200 if report.get("ready") else 503)


@get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response[bytes]:
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
