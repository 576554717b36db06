"""Every named SQL block of the drivers is looked up by some code (``QUERIES["name"]`` and
the like): a statement nothing runs is dead code that still looks like a rule."""

from __future__ import annotations

import re
from pathlib import Path

from quorra.db.rows import JOB_COLUMNS
from quorra.db.sqlfiles import parse_queries

ROOT = Path(__file__).resolve().parents[2] / "quorra"
_BLOCK = re.compile(r"^-- name: (\w+)", re.MULTILINE)
_LOOKUP = re.compile(r"""[A-Z_]+\[["'](\w+)["']\]""")


def test_every_named_sql_block_is_used() -> None:
    blocks = {(path.relative_to(ROOT).as_posix(), name)
              for path in ROOT.rglob("*.sql") if "migrations" not in path.parts
              for name in _BLOCK.findall(path.read_text())}
    used = {name for path in ROOT.rglob("*.py") for name in _LOOKUP.findall(path.read_text())}
    assert len(blocks) > 40  # the check sees the drivers' files
    assert sorted(block for block in blocks if block[1] not in used) == []


_SPELLED_OUT = re.compile(r"lease_expires_at,\s*(?:j\.)?finished_at,\s*(?:j\.)?timeout_seconds")
_OWN_LIST = {"enqueue_handoff", "list_jobs"}  # the payload (and result) column is a CASE there


def test_job_reads_name_the_one_column_list() -> None:
    """A job read writes ``{{job_columns}}``, never the list again (the two that select some
    columns conditionally excepted); every block loads with its macros expanded."""
    spelled = []
    for path in ROOT.rglob("*.sql"):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        for name, block in parse_queries(text).items():
            assert "{{" not in block, name
            if _SPELLED_OUT.search(_raw(text, name)) and name not in _OWN_LIST:
                spelled.append(name)
    assert spelled == []
    assert ", ".join(JOB_COLUMNS) in parse_queries("-- name: q\nSELECT {{job_columns}}")["q"]


def _raw(text: str, name: str) -> str:
    return text.split(f"-- name: {name}\n", 1)[1].split("\n-- name: ", 1)[0]
