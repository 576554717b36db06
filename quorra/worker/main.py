"""``quorra-worker``: run handlers from a module (``--handlers`` / ``QUORRA_WORKER_HANDLERS``)
or the built-in demo set, configured by GoQuorra's environment names. SIGTERM/SIGINT drain."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import sys

import click

from quorra.core.errors import ConfigError
from quorra.tracing.config import TracingConfig
from quorra.tracing.setup import setup_tracing
from quorra.worker.config import WorkerConfig
from quorra.worker.demo import demo_registry
from quorra.worker.registry import Registry, default_registry
from quorra.worker.runner import Worker, WorkerStopped

__all__ = ["main"]

log = logging.getLogger("quorra.worker")


def load_handlers(module: str) -> Registry:
    """Import ``module`` (its ``@handler`` decorators fill the default registry); without a
    module, the demo handlers."""
    if not module:
        return demo_registry
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError("QUORRA_WORKER_HANDLERS", f"cannot import {module!r}: {exc}") from None
    if not default_registry.types():
        raise ConfigError("QUORRA_WORKER_HANDLERS", f"{module!r} registered no handlers")
    return default_registry


async def _run(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()


@click.command()
@click.option("--handlers", "handlers", default=None, metavar="MODULE",
              help="Module whose @handler functions to run (default: QUORRA_WORKER_HANDLERS, "
                   "else the demo handlers).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def main(handlers: str | None, log_level: str) -> None:
    """Quorra worker: lease jobs over gRPC and run them."""
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = WorkerConfig.from_env()
        registry = load_handlers(handlers if handlers is not None else config.handlers)
        tracer_provider = setup_tracing(TracingConfig.from_env("quorra-worker"))
    except ConfigError as exc:
        click.echo(f"quorra-worker: configuration error: {exc}", err=True)
        sys.exit(2)
    log.info("quorra-worker %s: handlers %s", config.worker_id, ", ".join(registry.types()))
    worker = Worker(config, registry)
    try:
        asyncio.run(_run(worker))
    except WorkerStopped as exc:
        click.echo(f"quorra-worker: {exc}", err=True)
        sys.exit(1)
    finally:
        if tracer_provider is not None:
            tracer_provider.shutdown()  # exports the spans still batched
    log.info("quorra-worker stopped")
    if worker.abandoned:  # threads of `def` handlers past their deadline: never wait for them
        log.warning("%d handler thread(s) still running past their job's deadline; exiting "
                    "without them", worker.abandoned)
        logging.shutdown()
        os._exit(0)


if __name__ == "__main__":
    main()
