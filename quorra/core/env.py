"""Settings read from the environment — by the server (``quorra.settings``), the worker
(``quorra.worker.config``) and the client (``quorra.client.config``) alike: one reader, one
set of value parsers. A blank variable takes its default; a bad value raises ``ConfigError``
naming the variable, its value hidden when the name says it may hold a secret (``KEY``,
``URL``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TypeVar

from quorra.core.errors import ConfigError

__all__ = ["EnvReader", "parse_duration"]

T = TypeVar("T")

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str) -> float:
    """Go-style durations: ``30s``, ``1m``, ``500ms``, ``1h``; a bare number means seconds."""
    text = value.strip().lower()
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * _UNITS[unit]
    return float(text)


def _shown(name: str, raw: str) -> str:
    secret = "KEY" in name or "URL" in name
    return "(hidden)" if secret else repr(raw)


class EnvReader:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env

    def text(self, name: str, default: str = "") -> str:
        """The stripped value, or ``default`` when unset or blank."""
        return self.env.get(name, "").strip() or default

    def get(self, name: str, default: str, parse: Callable[[str], T]) -> T:
        raw = self.env.get(name, "")
        raw = raw if raw.strip() else default
        try:
            return parse(raw)
        except ValueError as exc:
            raise ConfigError(name, f"invalid value {_shown(name, raw)}: {exc}") from None

    def integer(self, name: str, default: str, low: int, high: int) -> int:
        return self.get(name, default, lambda raw: _within(_int(raw), low, high, ""))

    def seconds(self, name: str, default: str, low: float, high: float) -> float:
        return self.get(name, default, lambda raw: _within(_duration(raw), low, high, "s"))


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("expected an integer") from None


def _duration(raw: str) -> float:
    try:
        return parse_duration(raw)
    except ValueError:
        raise ValueError("expected a duration such as 30s") from None


def _within(value: T, low: float, high: float, unit: str) -> T:
    if not low <= value <= high:  # type: ignore[operator]  # T is int or float here
        raise ValueError(f"must be between {low:g}{unit} and {high:g}{unit}")
    return value
