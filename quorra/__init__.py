"""Quorra: a distributed job queue server. Redis speed with Postgres truth.

``quorra.Client`` and ``quorra.AsyncClient`` (the producer client, ``quorra.client``) load on
first use, so ``import quorra`` (and ``quorra.core``) stays free of gRPC. Type checkers read
their types from ``__init__.pyi``."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["AsyncClient", "Client", "NewJob", "__version__"]

__version__ = "0.1.0"

_LAZY = {"AsyncClient", "Client", "NewJob"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("quorra.client"), name)
    raise AttributeError(f"module 'quorra' has no attribute {name!r}")
