"""In-process HTTP clients of a Litestar app."""

from __future__ import annotations

import httpx
from litestar import Litestar

__all__ = ["asgi_transport"]


def asgi_transport(app: Litestar) -> httpx.ASGITransport:
    """A transport that calls ``app`` in this process, no socket."""
    # Litestar's __call__ takes its typed ASGI scopes and events; httpx declares the generic
    # mappings it passes (the same values at run time)
    return httpx.ASGITransport(app=app)  # type: ignore[arg-type]
