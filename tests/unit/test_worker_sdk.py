"""Worker SDK surface and configuration (no services)."""

from __future__ import annotations

import pytest

import quorra.worker
from quorra.core.errors import ConfigError
from quorra.worker import Registry, WorkerConfig
from quorra.worker.demo import demo_registry
from quorra.worker.main import load_handlers


def test_public_names_are_exported() -> None:
    public = {name for name in vars(quorra.worker) if not name.startswith("_")}
    modules = {"config", "registry", "runner", "execute", "demo", "main"}
    assert public - modules == set(quorra.worker.__all__)


def test_defaults_follow_goquorra() -> None:
    config = WorkerConfig.from_env({})
    assert (config.worker_id, config.queues, config.max_jobs, config.lease_ttl,
            config.grpc_addr) == ("worker-1", ("default",), 5, 30.0, "localhost:50051")


def test_values_are_parsed() -> None:
    config = WorkerConfig.from_env({
        "QUORRA_WORKER_ID": "w7", "QUORRA_WORKER_QUEUES": "email, default ,reports",
        "QUORRA_WORKER_MAX_JOBS": "12", "QUORRA_WORKER_LEASE_TTL": "2m",
        "QUORRA_GRPC_ADDR": ":6000", "QUORRA_API_KEY": "k"})
    assert (config.worker_id, config.queues, config.max_jobs, config.lease_ttl,
            config.grpc_addr, config.api_key) == (
        "w7", ("email", "default", "reports"), 12, 120.0, "localhost:6000", "k")


@pytest.mark.parametrize(("name", "value"), [
    ("QUORRA_WORKER_MAX_JOBS", "0"), ("QUORRA_WORKER_MAX_JOBS", "five"),
    ("QUORRA_WORKER_LEASE_TTL", "forever"), ("QUORRA_WORKER_LEASE_TTL", "0.1s"),
    ("QUORRA_WORKER_QUEUES", "a,,b"), ("QUORRA_GRPC_ADDR", "nowhere"),
    ("QUORRA_SHUTDOWN_GRACE", "soon"),
])
def test_invalid_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        WorkerConfig.from_env({name: value})
    assert info.value.variable == name


def test_registry_and_demo_handlers() -> None:
    registry = Registry()

    @registry.handler("a")
    def handle(job: object) -> int:
        return 1

    assert registry.get("a") is handle and registry.get("b") is None
    assert demo_registry.types() == ["email_send", "fail", "sleep", "test_job"]
    assert load_handlers("") is demo_registry
    with pytest.raises(ConfigError, match="QUORRA_WORKER_HANDLERS"):
        load_handlers("no.such.module")
