"""``quorra-server``: serve (default) or ``migrate``. Stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import uvicorn
import uvloop

from quorra.bootstrap import migrate, running
from quorra.core.errors import QuorraError
from quorra.http.drain import DrainRefusedBody
from quorra.settings import LOG_LEVELS, Settings
from quorra.tracing.config import TracingConfig
from quorra.tracing.setup import setup_tracing

__all__ = ["main"]

log = logging.getLogger("quorra.server")


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture: the server installs loop handlers instead,
    so shutdown runs every ``finally`` (see docs/architecture.md, "Shutdown")."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _reuse_port_socket(settings: Settings) -> socket.socket:
    """A listening socket that other replicas on this host may bind too: the kernel spreads
    connections over them (``QUORRA_HTTP_REUSE_PORT``; one process uses one core)."""
    host = settings.http_addr.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, settings.http_addr.port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve(settings: Settings) -> None:
    async with running(settings) as runtime:
        config = uvicorn.Config(
            DrainRefusedBody(runtime.app, limit=max(64 << 20, 2 * settings.max_body_bytes)),
            host=settings.http_addr.host, port=settings.http_addr.port,
            log_level=settings.log_level if settings.log_level != "warn" else "warning",
            access_log=settings.log_level == "debug", lifespan="on", server_header=False,
            ssl_certfile=settings.tls.http_cert or None, ssl_keyfile=settings.tls.http_key or None,
            forwarded_allow_ips=settings.tls.forwarded_allow_ips or None,
        )
        server = _Server(config)
        loop = asyncio.get_running_loop()
        stops: list[asyncio.Task[None]] = []

        def shutdown() -> None:
            server.should_exit = True
            if not stops:  # gRPC stops handing out jobs at once, beside HTTP's shutdown
                stops.append(loop.create_task(runtime.rpc.stop()))

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown)
        log.info("quorra-server listening on http://%s and grpc port %d (mode: %s)",
                 settings.http_addr, runtime.rpc.port, runtime.mode)
        sockets = [_reuse_port_socket(settings)] if settings.http_reuse_port else None
        await server.serve(sockets=sockets)
        log.info("quorra-server stopping")


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except QuorraError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None
    logging.basicConfig(level=LOG_LEVELS[settings.log_level],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


def _tracing() -> Any:
    """The tracer provider, when tracing is on (README "Tracing")."""
    try:
        return setup_tracing(TracingConfig.from_env("quorra-server"))
    except QuorraError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def _run(coro_factory: object) -> None:
    try:
        # uvloop: the same event loop API at about half the per-request cost (see README,
        # "Performance"); psycopg, uvicorn and grpc.aio all run on it.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coro_factory)  # type: ignore[arg-type]
    except QuorraError as exc:
        click.echo(f"quorra-server: {exc}", err=True)
        sys.exit(1)


NO_DATABASE = ("DATABASE_URL is not set. Point it at PostgreSQL (postgresql://…), or run "
               "`quorra-server --dev` for a self-contained development setup (embedded "
               "PostgreSQL and Redis, demo workers).")


def _dev(dev_dir: str) -> None:
    from quorra.devmode import run

    try:
        sys.exit(run(Path(dev_dir)))
    except QuorraError as exc:
        raise click.ClickException(f"dev mode: {exc}") from None


@click.group(invoke_without_command=True)
@click.option("--dev", is_flag=True,
              help="Run everything locally: embedded PostgreSQL and Redis when DATABASE_URL / "
                   "REDIS_URL are unset, plus two demo workers.")
@click.option("--dev-dir", envvar="QUORRA_DEV_DIR", default=".quorra-dev", show_default=True,
              show_envvar=True, help="Data directory of --dev (kept across restarts).")
@click.pass_context
def main(ctx: click.Context, dev: bool, dev_dir: str) -> None:
    """Quorra job queue server. Without a command: serve HTTP (and gRPC)."""
    if ctx.invoked_subcommand is None and dev:
        _dev(dev_dir)
    elif ctx.invoked_subcommand is None:
        settings = _settings()
        if not settings.database_url:
            raise click.ClickException(NO_DATABASE)
        tracer_provider = _tracing()
        try:
            _run(serve(settings))
        finally:
            if tracer_provider is not None:
                tracer_provider.shutdown()  # exports the spans still batched


@main.command("migrate")
def migrate_command() -> None:
    """Apply database migrations and exit."""
    settings = _settings()
    if not settings.database_url:
        raise click.ClickException("configuration error: DATABASE_URL: is required")

    async def run() -> None:
        applied = await migrate(settings)
        click.echo(f"applied: {', '.join(applied)}" if applied else "database is up to date")

    _run(run())


if __name__ == "__main__":
    main()
