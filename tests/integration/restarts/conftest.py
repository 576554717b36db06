"""A private PostgreSQL cluster for the restart tests (one per module; each test gets a fresh
database in it). Missing server binaries skip the tests locally and fail them in CI."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.integration.private_postgres import PostgresMissing, PrivatePostgres


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    try:
        server = PrivatePostgres()
    except PostgresMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        yield server.start()
    finally:
        server.destroy()
