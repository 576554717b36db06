"""A private PostgreSQL cluster for the restart tests (one per module; each test gets a fresh
database in it). Missing server binaries skip the tests locally and fail them in CI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.private_postgres import PrivatePostgres, started_or_skip


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    with started_or_skip() as server:
        yield server
