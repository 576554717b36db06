"""Tracing settings, read once at start-up by ``quorra-server`` and ``quorra-worker``.

Off by default. On with ``QUORRA_TRACING=on``, or when an exporter is chosen:
``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``; ``none`` keeps it off) or ``QUORRA_TRACES_FILE``
(spans as JSON lines appended to that file). ``QUORRA_TRACING=off`` or ``OTEL_SDK_DISABLED=true``
turn it off whatever else is set. The OTLP exporter reads OpenTelemetry's own variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS`` …), the SDK the sampler and
batching ones (``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``); ``OTEL_SERVICE_NAME`` names the service
(default ``quorra-server`` / ``quorra-worker``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from quorra.core.errors import ConfigError

__all__ = ["EXPORTERS", "TracingConfig"]

EXPORTERS = ("otlp", "console")
_ON = {"1", "true", "on", "yes"}
_OFF = {"0", "false", "off", "no"}


def _switch(env: Mapping[str, str]) -> bool | None:
    value = env.get("QUORRA_TRACING", "").strip().lower()
    if not value:
        return None
    if value not in _ON | _OFF:
        raise ConfigError("QUORRA_TRACING", "must be on or off")
    return value in _ON


def _exporters(env: Mapping[str, str]) -> tuple[str, ...] | None:
    """The exporters ``OTEL_TRACES_EXPORTER`` names; None when it is unset."""
    value = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not value:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in (*EXPORTERS, "none")]
    if unknown:
        raise ConfigError("OTEL_TRACES_EXPORTER",
                          f"unknown exporter {unknown[0]!r} (otlp, console or none)")
    return tuple(n for n in names if n != "none")


@dataclasses.dataclass(frozen=True, slots=True)
class TracingConfig:
    enabled: bool = False
    exporters: tuple[str, ...] = ()  # of EXPORTERS
    file: str | None = None  # QUORRA_TRACES_FILE: JSON lines, one span each
    service_name: str = "quorra"

    @classmethod
    def from_env(cls, default_service: str,
                 env: Mapping[str, str] | None = None) -> TracingConfig:
        env = os.environ if env is None else env
        switch = _switch(env)
        named = _exporters(env)
        file = env.get("QUORRA_TRACES_FILE", "").strip() or None
        service = env.get("OTEL_SERVICE_NAME", "").strip() or default_service
        disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
        chosen = bool(named) or file is not None
        enabled = not disabled and (switch if switch is not None else chosen)
        if not enabled:
            return cls(service_name=service)
        exporters = named if named is not None else (() if file else ("otlp",))
        return cls(True, exporters, file, service)
