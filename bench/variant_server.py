"""``quorra-server`` with one switch flipped, for same-run comparisons.

``--no-group-commit``: every enqueue request commits its own transaction (the broker's
``group_commit=False``). ``--asyncio``: the standard event loop instead of uvloop.
``--stamps``: record per-job stage timestamps (bench/stamps.py; bench/stages.py reads them).
Everything else is quorra-server as shipped.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvloop

import quorra.bootstrap
import quorra.server
from quorra.broker.postgres import PostgresBroker


class _NoGroupCommit(PostgresBroker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, group_commit=False, **kwargs)


def _flag(name: str) -> bool:
    if name in sys.argv:
        sys.argv.remove(name)
        return True
    return False


if __name__ == "__main__":
    if _flag("--no-group-commit"):
        # the composition root builds its broker by this name (imported, not re-exported)
        quorra.bootstrap.PostgresBroker = _NoGroupCommit  # type: ignore[attr-defined]
    if _flag("--stamps"):
        import stamps

        stamps.install()
    if _flag("--asyncio"):
        # quorra.server makes its loop with uvloop.new_event_loop (typed to return a uvloop Loop)
        uvloop.new_event_loop = asyncio.new_event_loop  # type: ignore[assignment]
    quorra.server.main()
