"""Open endpoints: liveness, readiness and Prometheus metrics. With ``QUORRA_PROTECT_METRICS``,
``/metrics`` needs an operator or admin key and ``/readyz`` tells its details only to one (its
status code stays open for load balancers and probes)."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from quorra.core.errors import PermissionDenied
from quorra.core.permissions import OPEN_ROUTES, authorize
from quorra.http.auth import authenticate, denied, header_credential

__all__ = ["healthz", "metrics", "readyz"]

AnyRequest = Request[Any, Any, Any]


def _given(request: AnyRequest) -> bytes:
    return header_credential(request.scope["headers"]) or str(
        request.query_params.get("api_key") or "").encode("utf-8", "surrogatepass")


async def _check(request: AnyRequest, path: str) -> None:
    principal = await authenticate(request, _given(request))
    try:
        authorize(principal, OPEN_ROUTES[("GET", path)])
    except PermissionDenied as exc:
        raise denied(request, "rest", exc) from None


@get("/healthz", media_type=MediaType.TEXT, tags=["system"],
     summary="Liveness: 503 when dispatch is stalled (see quorra_dispatch_stalled)")
async def healthz(state: State) -> Response[str]:
    stall: str | None = await state.liveness()
    if stall is not None:
        return Response(stall, status_code=503, media_type=MediaType.TEXT)
    return Response("ok", media_type=MediaType.TEXT)


@get("/readyz", tags=["system"], summary="Readiness: the store (and Redis when configured)")
async def readyz(request: AnyRequest, state: State) -> Response[dict[str, Any]]:
    report: dict[str, Any] = await state.readiness()
    status = 200 if report.get("ready") else 503
    if state.protect_metrics and not _given(request):
        return Response({"ready": bool(report.get("ready"))}, status_code=status)
    if state.protect_metrics:
        await _check(request, "/readyz")
    return Response(report, status_code=status)


@get("/metrics", include_in_schema=False)
async def metrics(request: AnyRequest, state: State) -> Response[bytes]:
    if state.protect_metrics:
        await _check(request, "/metrics")
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
