"""The producer client's pure parts: configuration, job conversion, batching, error mapping."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime

import pytest

from quorra.client import ClientConfig, InvalidRequest, NewJob
from quorra.client.batching import chunks
from quorra.client.errors import invalid
from quorra.client.types import to_pb
from quorra.core.errors import ConfigError, QuorraError


@pytest.mark.parametrize("modules", ["quorra, quorra.core.spec", "quorra.cli"])
def test_importing_stays_free_of_grpc(modules: str) -> None:
    import subprocess

    code = f"import sys, {modules}; print('grpc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("env", "target"), [
    ({}, "localhost:50051"),
    ({"QUORRA_GRPC_ADDR": ":6000"}, "localhost:6000"),
    ({"QUORRA_GRPC_ADDR": "q.example:7000", "QUORRA_URL": "http://x:8080"}, "q.example:7000"),
    ({"QUORRA_URL": "https://q.example:8443/"}, "q.example:50051"),
])
def test_target_from_env(env: dict[str, str], target: str) -> None:
    assert ClientConfig.resolve(env=env).target == target


def test_arguments_win_and_bad_values_name_the_setting() -> None:
    config = ClientConfig.resolve("h:1", "k", env={"QUORRA_API_KEY": "env"})
    assert (config.target, config.api_key) == ("h:1", "k")
    with pytest.raises(ConfigError, match="QUORRA_GRPC_ADDR"):
        ClientConfig.resolve(env={"QUORRA_GRPC_ADDR": "nope:port"})
    with pytest.raises(ConfigError, match="batch_size"):
        ClientConfig.resolve(env={}, batch_size=0)


def test_every_job_gets_a_uuid7_unless_given() -> None:
    spec = to_pb(NewJob("t", {"a": 1}, priority=0, max_retries=0))
    assert uuid.UUID(spec.id).version == 7
    assert spec.HasField("priority") and spec.HasField("max_retries")
    assert not spec.HasField("delay_seconds")
    assert to_pb(NewJob("t", id="x")).id == "x"


def test_time_limit_is_sent_only_when_given() -> None:
    assert not to_pb(NewJob("t")).HasField("timeout_seconds")
    assert to_pb(NewJob("t", timeout=2.5)).timeout_seconds == 2.5
    from_rest = NewJob.from_mapping({"type": "t", "timeout_seconds": 30})
    assert from_rest.timeout == 30 and to_pb(from_rest).timeout_seconds == 30


def test_bad_jobs_are_refused_before_sending() -> None:
    with pytest.raises(InvalidRequest) as payload:
        to_pb(NewJob("t", {"when": object()}), "jobs[4]")
    assert payload.value.field == "jobs[4].payload"
    with pytest.raises(InvalidRequest) as naive:
        to_pb(NewJob("t", run_at=datetime(2030, 1, 1)))
    assert naive.value.field == "run_at"
    with pytest.raises(InvalidRequest) as unknown:
        NewJob.from_mapping({"type": "t", "colour": "red"}, "jobs[2]")
    assert unknown.value.field == "jobs[2].colour"
    assert NewJob.from_mapping({"type": "t", "delay_seconds": 5}).delay == 5


def test_server_fields_are_renamed_for_the_caller() -> None:
    assert invalid("jobs[3].payload: must be a JSON object", ("jobs", 1000)).field == (
        "jobs[1003].payload")
    assert invalid("jobs[0].priority: Expected `int` <= 1000000", ("", 0)).field == "priority"
    assert invalid("jobs: must hold at least one job", ("jobs", 0)).field == "jobs"
    plain = invalid("something odd")
    assert (plain.field, plain.message) == ("", "something odd")
    assert isinstance(plain, QuorraError)


async def test_chunks_keep_positions_and_bound_sizes() -> None:
    jobs = [{"type": "t", "payload": {"n": n}} for n in range(1001)]
    cut = [c async for c in chunks(jobs, 400)]
    assert [(c.index, c.offset, len(c.specs)) for c in cut] == [(0, 0, 400), (1, 400, 400),
                                                                 (2, 800, 201)]
    big = [{"type": "t", "payload": {"s": "x" * 1_500_000}} for _ in range(4)]
    assert [len(c.specs) for c in [c async for c in chunks(big, 500)]] == [2, 2]
