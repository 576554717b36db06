"""The gRPC server of a replica: WorkerService behind the API-key interceptor, the standard
health service and reflection, keepalive settings, and a graceful stop.

Keepalive: the server pings an idle connection every 30 s and drops it when a ping is not
answered within 10 s; clients may ping at most every 10 s (also without calls in flight), so a
client ``keepalive_time_ms`` ≥ 10 000 is safe; idle connections close after 5 min.

Message size: ``max_message_bytes`` is both the receive and the send limit; the composition
root derives it from the payload and body limits (``quorra.core.sizes.grpc_message_bytes``), so
the largest job always fits in one message. Responses that carry many jobs are cut to the size
each worker announces (``quorra.rpc.batches``).
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from quorra.core.errors import ConfigError
from quorra.core.keys import Keyring
from quorra.core.spec import Limits
from quorra.core.throttle import FailureThrottle
from quorra.rpc.auth import ApiKeyInterceptor
from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from quorra.rpc.servicer import WorkerServicer
from quorra.service import JobService
from quorra.worker_directory import WorkerDirectory

__all__ = ["KEEPALIVE_OPTIONS", "SERVICE_NAME", "STOP_MARGIN", "RpcServer", "server_credentials"]

log = logging.getLogger(__name__)
STOP_MARGIN = 5.0  # seconds past the grace period a stop may take before shutdown goes on

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["WorkerService"].full_name
KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_connection_idle_ms", 300_000),
]


def server_credentials(cert: bytes, key: bytes,
                       client_ca: bytes | None = None) -> grpc.ServerCredentials:
    """TLS with ``cert``/``key`` (PEM); with ``client_ca``, clients must present a certificate
    it signed (mTLS)."""
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)


class RpcServer:
    def __init__(self, service: JobService, *, api_key: str | Keyring, host: str, port: int,
                 directory: WorkerDirectory, limits: Limits, max_message_bytes: int,
                 grace: float = 10.0,
                 credentials: grpc.ServerCredentials | None = None,
                 throttle: FailureThrottle | None = None) -> None:
        self.credentials = credentials  # None: plaintext
        self.stopping = asyncio.Event()
        self.grace = grace
        self.servicer = WorkerServicer(service, directory, limits=limits,
                                       stopping=self.stopping, session_grace=grace,
                                       max_message_bytes=max_message_bytes)
        self.health = health.aio.HealthServicer()
        options = [*KEEPALIVE_OPTIONS, ("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        self.auth = ApiKeyInterceptor(api_key, throttle=throttle, metrics=service.metrics)
        self.server = grpc.aio.server(interceptors=[self.auth], options=options)
        pb_grpc.add_WorkerServiceServicer_to_server(self.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                 reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, self.server)
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.port = 0
        self._stopped: asyncio.Task[None] | None = None

    async def start(self) -> int:
        try:
            self.port = (self.server.add_insecure_port(self.address) if self.credentials is None
                         else self.server.add_secure_port(self.address, self.credentials))
        except RuntimeError as exc:
            raise ConfigError("QUORRA_GRPC_ADDR", f"cannot listen on {self.address}") from exc
        await self.server.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        log.info("gRPC listening on %s (%s)", self.address.rsplit(":", 1)[0] + f":{self.port}",
                 "plaintext" if self.credentials is None else "TLS")
        return self.port

    async def stop(self) -> None:
        """Report NOT_SERVING, stop handing out jobs, let sessions settle what their workers hold
        (up to the grace period), release jobs never delivered, then close. Idempotent."""
        if self._stopped is None:
            self._stopped = asyncio.create_task(self._stop())
        await asyncio.shield(self._stopped)

    async def _stop(self) -> None:
        """grpcio's ``stop(grace)`` should return by the end of the grace period; it has been
        seen to hang in tests, so a replica's shutdown waits for it only that long, plus
        ``STOP_MARGIN``, then goes on (logged)."""
        await self.health.enter_graceful_shutdown()
        self.stopping.set()
        limit = self.grace + STOP_MARGIN
        try:
            async with asyncio.timeout(limit):
                await self.server.stop(self.grace)
        except TimeoutError:
            log.warning("gRPC server did not stop within %.1fs; shutting down without it", limit)
            return
        log.info("gRPC stopped")
