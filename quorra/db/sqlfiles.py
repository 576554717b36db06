"""Named SQL blocks: a ``-- name: <query>`` line starts each block of a ``.sql`` file."""

from __future__ import annotations

import re
from importlib import resources
from typing import LiteralString

__all__ = ["load_queries"]

_HEADER = re.compile(r"^-- name: (?P<name>[a-z_]+)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, LiteralString]:
    queries: dict[str, LiteralString] = {}
    matches = list(_HEADER.finditer(text))
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(text)
        name = match.group("name")
        if name in queries:
            raise ValueError(f"duplicate query name {name!r}")
        queries[name] = text[match.end() : end].strip()
    return queries


def load_queries(package: str, filename: str = "queries.sql") -> dict[str, LiteralString]:
    return parse_queries(resources.files(package).joinpath(filename).read_text("utf-8"))
