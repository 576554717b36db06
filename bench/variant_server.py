"""``quorra-server`` with one switch flipped, for same-run comparisons.

``--no-group-commit``: every enqueue request commits its own transaction (the broker's
``group_commit=False``). ``--asyncio``: the standard event loop instead of uvloop.
``--stamps``: record per-job stage timestamps (bench/stamps.py; bench/stages.py reads them).
Everything else is quorra-server as shipped.
"""

from __future__ import annotations

import asyncio
import functools
import sys

import quorra.bootstrap
import quorra.server
from quorra.broker.postgres import PostgresBroker


def _flag(name: str) -> bool:
    if name in sys.argv:
        sys.argv.remove(name)
        return True
    return False


if __name__ == "__main__":
    if _flag("--no-group-commit"):
        quorra.bootstrap.PostgresBroker = functools.partial(  # type: ignore[misc]
            PostgresBroker, group_commit=False)
    if _flag("--stamps"):
        import stamps

        stamps.install()
    if _flag("--asyncio"):
        quorra.server.uvloop.new_event_loop = asyncio.new_event_loop  # type: ignore[assignment]
    quorra.server.main()
