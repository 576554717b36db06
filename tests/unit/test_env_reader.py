"""The one environment reader of the server, the worker and the client: blanks take the
default, a bad value names its variable (never showing a secret), ranges are enforced."""

from __future__ import annotations

import pytest

from quorra.client.config import ClientConfig
from quorra.core.env import EnvReader
from quorra.core.errors import ConfigError
from quorra.settings import Settings
from quorra.worker.config import WorkerConfig


def test_blank_takes_the_default_and_values_are_stripped() -> None:
    read = EnvReader({"A": "  ", "B": " x ", "C": " 500ms "})
    assert read.text("A", "d") == "d" and read.text("B") == "x" and read.text("D") == ""
    assert read.integer("A", "7", 1, 10) == 7 and read.seconds("A", "1m", 0, 100) == 60
    assert read.seconds("C", "1m", 0, 100) == 0.5


@pytest.mark.parametrize(("env", "message"), [
    ({"QUORRA_WORKER_MAX_JOBS": "many"}, "invalid value 'many': expected an integer"),
    ({"QUORRA_WORKER_MAX_JOBS": "0"}, "invalid value '0': must be between 1 and 1000"),
    ({"QUORRA_WORKER_LEASE_TTL": "soon"}, "expected a duration such as 30s"),
    ({"QUORRA_SHUTDOWN_GRACE": "2d"}, "expected a duration"),
    ({"QUORRA_WORKER_LEASE_TTL": "0.1s"}, "must be between 1s and 86400s"),
    ({"QUORRA_WORKER_QUEUES": "a,,b"}, "empty queue name"),
])
def test_a_bad_worker_setting_names_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WorkerConfig.from_env(env)
    assert message in str(caught.value) and next(iter(env)) in str(caught.value)


def test_secrets_are_never_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"QUORRA_API_KEY": "k" * 20, "DATABASE_URL": "mysql://u:pw@h/db"})
    assert "DATABASE_URL" in str(caught.value) and "pw" not in str(caught.value)


def test_the_client_reads_the_same_way() -> None:
    config = ClientConfig.resolve(env={"QUORRA_GRPC_ADDR": " ", "QUORRA_URL": " http://h:8080 "})
    assert config.target.startswith("h:")
    assert ClientConfig.resolve(env={}).target == ClientConfig().target
