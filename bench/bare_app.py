"""The baseline for REST enqueue: a bare Litestar handler that validates the same body the same
way (strict msgspec decode + Quorra's core checks) and answers 201 without any I/O.

Run: ``python bench/bare_app.py PORT`` (uvicorn with the same options as quorra-server).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import uvicorn
from litestar import Litestar, MediaType, Request, get, post

from quorra.core.jobs import Enqueued, JobStatus
from quorra.core.spec import Limits, decode_enqueue

LIMITS = Limits()


@post("/v1/jobs", status_code=201)
async def enqueue(request: Request[Any, Any, Any]) -> Enqueued:
    spec = decode_enqueue(await request.body(), LIMITS)
    return Enqueued(id=spec.id, status=JobStatus.PENDING, run_at=datetime.now(UTC))


@get("/healthz", media_type=MediaType.TEXT)
async def healthz() -> str:
    return "ok"


app = Litestar(route_handlers=[enqueue, healthz])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False, server_header=False)
