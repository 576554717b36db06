"""``quorra-server --dev``: the whole system on one machine with no external service.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset it starts an embedded PostgreSQL and Redis in a
data directory (default ``.quorra-dev/``), then a ``quorra-server`` and two demo
``quorra-worker`` processes, and prints where everything is. Ctrl-C stops it all in reverse
order; the jobs are kept for the next start."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.table import Table

from quorra.devmode.embedded import (
    DevModeError,
    EmbeddedPostgres,
    EmbeddedRedis,
    dev_key,
    postgres_dir,
)
from quorra.devmode.supervisor import Child, Plan, supervise
from quorra.settings import Address, parse_address

__all__ = ["DEMO_WORKERS", "DevModeError", "run"]

#: (worker id, queues, max jobs) of the demo workers, as in GoQuorra's compose file.
DEMO_WORKERS = (("dev-worker-1", "default,email,processing", 5),
                ("dev-worker-2", "default,processing", 3))


def _address(env: Mapping[str, str], name: str, default: str) -> Address:
    raw = env.get(name, "").strip() or default
    try:
        return parse_address(raw)
    except ValueError as exc:
        raise DevModeError(f"{name}: invalid value {raw!r}: {exc}") from None


def _loopback(address: Address) -> bool:
    """Only this machine can connect: the documented development key is then good enough."""
    host = address.host.strip("[]")
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return host == "localhost"


def _client_host(address: Address) -> str:
    return "127.0.0.1" if address.host in ("0.0.0.0", "::", "") else address.host


def _worker_binary() -> str | None:
    beside = Path(sys.executable).parent / "quorra-worker"
    return str(beside) if beside.exists() else shutil.which("quorra-worker")


def _workers(env: dict[str, str], grpc: Address) -> list[Child]:
    binary = _worker_binary()
    if binary is None:
        return []
    target = f"{_client_host(grpc)}:{grpc.port}"
    return [Child(worker_id, [binary], {**env, "QUORRA_WORKER_ID": worker_id,
                                        "QUORRA_WORKER_QUEUES": queues,
                                        "QUORRA_WORKER_MAX_JOBS": str(max_jobs),
                                        "QUORRA_GRPC_ADDR": target})
            for worker_id, queues, max_jobs in DEMO_WORKERS]


def _banner(data_dir: Path, http: Address, grpc: Address, key: str, key_source: str,
            database: str, redis: str, workers: list[Child]) -> None:
    url = f"http://{_client_host(http)}:{http.port}"
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan")
    table.add_column()
    for label, value in (
        ("Dashboard", f"{url}/"), ("REST API", f"{url}/v1"),
        ("gRPC", f"{_client_host(grpc)}:{grpc.port}"), ("API key", f"{key}  ({key_source})"),
        ("PostgreSQL", database), ("Redis", redis),
        ("Workers", ", ".join(w.name for w in workers) or
         "none yet (quorra-worker is not installed); jobs stay pending"),
        ("Data", str(data_dir)),
    ):
        table.add_row(label, value)
    console = Console(highlight=False)
    console.print("\n[bold green]Quorra dev mode is running[/]")
    console.print(table)
    print(f"\nTry:  export QUORRA_URL={url} QUORRA_API_KEY={key}\n"
          "      quorractl create test_job --payload '{\"message\": \"hello\"}'\n"
          "Ctrl-C stops everything; the jobs stay in the data directory.\n", flush=True)


def _plan(data_dir: Path, environ: dict[str, str], http: Address, grpc: Address,
          database: str, redis_url: str, embedded: tuple[bool, bool]) -> Plan:
    from_env = bool(environ.get("QUORRA_API_KEY"))
    loopback = _loopback(http) and _loopback(grpc)
    key = environ.get("QUORRA_API_KEY") or dev_key(data_dir / "api-key", loopback=loopback)
    key_source = "from QUORRA_API_KEY" if from_env else f"saved in {data_dir / 'api-key'}"
    server_env = {"QUORRA_LOG_LEVEL": "warn", **environ, "DATABASE_URL": database,
                  "REDIS_URL": redis_url, "QUORRA_API_KEY": key,
                  "QUORRA_HTTP_ADDR": str(http), "QUORRA_GRPC_ADDR": str(grpc)}
    workers = _workers(server_env, grpc)
    shown_db = f"embedded, in {data_dir / 'postgres'}" if embedded[0] else "DATABASE_URL"
    shown_redis = f"embedded ({redis_url})" if embedded[1] else "REDIS_URL"
    return Plan(
        server=Child("quorra-server", [sys.executable, "-m", "quorra.server"], server_env),
        workers=workers,
        ready_url=f"http://{_client_host(http)}:{http.port}/readyz",
        on_ready=lambda: _banner(data_dir, http, grpc, key, key_source, shown_db, shown_redis,
                                 workers),
    )


def run(data_dir: Path, env: Mapping[str, str] | None = None) -> int:
    """Run dev mode in the foreground; return the process exit status."""
    environ = dict(os.environ if env is None else env)
    data_dir = data_dir.expanduser().resolve()
    http = _address(environ, "QUORRA_HTTP_ADDR", "127.0.0.1:8080")
    grpc = _address(environ, "QUORRA_GRPC_ADDR", "127.0.0.1:50051")
    postgres = None if environ.get("DATABASE_URL") else EmbeddedPostgres(postgres_dir(data_dir))
    redis = None if environ.get("REDIS_URL") else EmbeddedRedis(data_dir / "redis")
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        database = postgres.start() if postgres else environ["DATABASE_URL"]
        redis_url = redis.start() if redis else environ["REDIS_URL"]
        plan = _plan(data_dir, environ, http, grpc, database, redis_url,
                     (postgres is not None, redis is not None))
        return asyncio.run(supervise(plan))
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()
