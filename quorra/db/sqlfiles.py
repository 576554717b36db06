"""Named SQL blocks: a ``-- name: <query>`` line starts each block of a ``.sql`` file.

``{{job_columns}}`` in a block stands for the job columns every job read selects, in the order
``row_to_job`` unpacks them (``quorra/db/rows.py``, their one list); ``{{job_columns j}}`` for
the same columns of the table aliased ``j``."""

from __future__ import annotations

import re
from importlib import resources
from typing import LiteralString

from quorra.db.rows import JOB_COLUMNS

__all__ = ["load_queries"]

_HEADER = re.compile(r"^-- name: (?P<name>[a-z_]+)\s*$", re.MULTILINE)
_ALIASED: LiteralString = ", ".join(["j." + column for column in JOB_COLUMNS])
_MACROS: tuple[tuple[LiteralString, LiteralString], ...] = (
    ("{{job_columns}}", ", ".join(JOB_COLUMNS)), ("{{job_columns j}}", _ALIASED))


def _expanded(block: LiteralString) -> LiteralString:
    for macro, columns in _MACROS:
        block = block.replace(macro, columns)
    if "{{" in block:
        raise ValueError(f"unknown macro in {block[:80]!r}")
    return block


def parse_queries(text: str) -> dict[str, LiteralString]:
    queries: dict[str, LiteralString] = {}
    matches = list(_HEADER.finditer(text))
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(text)
        name = match.group("name")
        if name in queries:
            raise ValueError(f"duplicate query name {name!r}")
        queries[name] = _expanded(text[match.end() : end].strip())
    return queries


def load_queries(package: str, filename: str = "queries.sql") -> dict[str, LiteralString]:
    return parse_queries(resources.files(package).joinpath(filename).read_text("utf-8"))
