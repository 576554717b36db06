"""The published OpenAPI schema, fuzzed against a real ``quorra-server`` process: no server error,
no status code or content type the schema does not document, and a refused request stores
nothing. Fixed seed (``derandomize``) and a budget that fits CI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.e2e.conftest import API_KEY
from tests.e2e.process import ServerProcess, start_server

EXAMPLES = 60  # per operation


@pytest.fixture(scope="module")
def fuzzed_server(database_url: str) -> Iterator[ServerProcess]:
    with start_server(database_url, API_KEY, name="fuzz") as server:
        yield server


def _stored(server: ServerProcess) -> int:
    answer = httpx.get(f"{server.url}/v1/queues", headers={"X-API-Key": API_KEY}, timeout=10)
    return sum(queue["count"] for queue in answer.json()["queues"])


def _operations(server: ServerProcess) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json")
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    return [result.ok() for result in results if isinstance(result, Ok)]


def _check(case: Any, server: ServerProcess) -> None:
    before = _stored(server)
    response = case.call_and_validate(
        base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=30,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance])
    if response.status_code >= 400 and case.method == "POST":
        assert _stored(server) == before, "a refused request stored a job"


def test_published_api_survives_fuzzing(fuzzed_server: ServerProcess) -> None:
    operations = _operations(fuzzed_server)
    assert len(operations) >= 8, "the schema lists the API's operations"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            _check(case, fuzzed_server)

        fuzz()
