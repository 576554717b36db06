"""Open endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["healthz", "metrics", "readyz"]


@get("/healthz", media_type=MediaType.TEXT, tags=["system"],
     summary="Liveness: 503 when dispatch is stalled (see quorra_dispatch_stalled)")
async def healthz(state: State) -> Response[str]:
    stall: str | None = await state.liveness()
    if stall is not None:
        return Response(stall, status_code=503, media_type=MediaType.TEXT)
    return Response("ok", media_type=MediaType.TEXT)


@get("/readyz", tags=["system"], summary="Readiness: the store (and Redis when configured)")
async def readyz(state: State) -> Response[dict[str, Any]]:
    report: dict[str, Any] = await state.readiness()
    return Response(report, status_code=200 if report.get("ready") else 503)


@get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response[bytes]:
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
