"""The Python producer client: enqueue jobs from application code over gRPC.

    import quorra

    with quorra.Client() as client:                  # QUORRA_GRPC_ADDR, QUORRA_API_KEY
        job = client.enqueue("email_send", {"to": "a@example.com"}, delay=60)
        stored = client.enqueue_many({"type": "resize", "payload": {"n": n}} for n in range(10_000))
        print(client.get(job.id).status)
        client.cancel(job.id)                          # pending: never runs; running: stopped

``quorra.AsyncClient`` is the same for asyncio. Errors: see ``quorra.client.errors``.
"""

from quorra.client.aio import AsyncClient, JobInput
from quorra.client.config import ClientConfig
from quorra.client.errors import (
    AuthError,
    ClientError,
    Conflict,
    InvalidRequest,
    NotFound,
    ServerError,
    ServerUnavailable,
)
from quorra.client.sync import Client
from quorra.client.types import Enqueued, JobInfo, NewJob

__all__ = [
    "AsyncClient",
    "AuthError",
    "Client",
    "ClientConfig",
    "ClientError",
    "Conflict",
    "Enqueued",
    "InvalidRequest",
    "JobInfo",
    "JobInput",
    "NewJob",
    "NotFound",
    "ServerError",
    "ServerUnavailable",
]
