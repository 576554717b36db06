"""The schema's CHECK constraints refuse impossible rows even if a bug tried to write one."""

from __future__ import annotations

import uuid

import psycopg
import pytest

INSERT = ("INSERT INTO quorra_jobs (id, type, queue, status, lease_id, finished_at) "
          "VALUES (%s, 't', 'q', %s, %s, %s)")


@pytest.mark.parametrize(("status", "lease", "finished"), [
    ("processing", None, None),  # unknown status
    ("leased", None, None),  # leased without a lease id
    ("pending", uuid.uuid4(), None),  # a lease id outside 'leased'
    ("succeeded", None, None),  # terminal without finished_at
])
async def test_impossible_rows_are_refused(clean_db: str, status: str, lease: uuid.UUID | None,
                                           finished: object) -> None:
    async with await psycopg.AsyncConnection.connect(clean_db, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute(INSERT, (uuid.uuid4(), status, lease, finished))


async def test_timestamps_are_timestamptz(clean_db: str) -> None:
    async with await psycopg.AsyncConnection.connect(clean_db, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'quorra_jobs'"
            " AND data_type LIKE 'timestamp%%' AND data_type <> 'timestamp with time zone'")
        assert await cur.fetchall() == []
