"""Forward-only numbered migrations (``migrations/NNNN_name.sql``), applied under an advisory lock
so replicas that start together apply each one exactly once."""

from __future__ import annotations

import logging
import re
from importlib import resources
from typing import Any, LiteralString

import psycopg

__all__ = ["MIGRATIONS_LOCK", "apply_migrations", "available_migrations"]

log = logging.getLogger(__name__)

MIGRATIONS_LOCK = 0x71756F727261  # "quorra"
_NAME = re.compile(r"^(?P<version>\d{4})_[a-z0-9_]+\.sql$")


def available_migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("quorra.db").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group("version")), entry.name, entry.read_text("utf-8")))
    return sorted(found)


async def apply_migrations(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    """Apply what is missing; returns the names applied (empty when up to date)."""
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATIONS_LOCK,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS quorra_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version FROM quorra_migrations")
        done = {row[0] for row in await cur.fetchall()}
        for version, name, text in available_migrations():
            if version in done:
                continue
            sql: LiteralString = text
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO quorra_migrations (version, name) VALUES (%s, %s)", (version, name)
            )
            applied.append(name)
            log.info("applied migration %s", name)
    return applied
