from __future__ import annotations

import pytest

from quorra.core.errors import ConfigError
from quorra.settings import Address, Settings, parse_address, parse_duration


def test_goquorra_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.http_addr == Address("0.0.0.0", 8080)
    assert settings.grpc_addr == Address("0.0.0.0", 50051)
    assert (settings.log_level, settings.redis_url, settings.lease_ttl) == ("info", "", 30.0)


@pytest.mark.parametrize(("text", "expected"), [
    (":8080", Address("0.0.0.0", 8080)), ("127.0.0.1:9", Address("127.0.0.1", 9)),
    ("[::1]:80", Address("::1", 80)), ("localhost:50051", Address("localhost", 50051)),
])
def test_parse_address(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["8080", "host:", "host:99999", "host:port"])
def test_bad_address(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address(text)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1m", 60), ("500ms", 0.5),
                                                ("1h", 3600), ("2.5", 2.5)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("variable", "value"), [
    ("QUORRA_HTTP_ADDR", "nope"), ("QUORRA_GRPC_ADDR", ":-1"), ("QUORRA_LOG_LEVEL", "loud"),
    ("QUORRA_LEASE_TTL", "0s"), ("QUORRA_LEASE_TTL", "2d"), ("QUORRA_MAX_BODY_BYTES", "-1"),
    ("QUORRA_DB_POOL_SIZE", "many"), ("REDIS_URL", "http://x"), ("DATABASE_URL", "mysql://x"),
    ("QUORRA_MAX_LIST_BYTES", "0"),
    ("QUORRA_REDIS_LEASES", "lua"),
])
def test_invalid_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_redis_lease_path_defaults_to_the_datasets() -> None:
    assert Settings.from_env({}).redis_leases == ""  # the dataset's recorded mode, else grant
    assert Settings.from_env({"QUORRA_REDIS_LEASES": " Stream "}).redis_leases == "stream"


def test_secrets_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"REDIS_URL": "http://user:hunter2@host"})
    assert "hunter2" not in str(caught.value)


def test_server_requires_database_and_key() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Settings.from_env({"QUORRA_API_KEY": "k"}).require_server()
    with pytest.raises(ConfigError, match="QUORRA_API_KEY"):
        Settings.from_env({"DATABASE_URL": "postgresql://x/y"}).require_server()


def test_retention_defaults_and_units() -> None:
    from quorra.core.jobs import JobStatus

    defaults = Settings.from_env({}).retention()
    assert defaults == {JobStatus.SUCCEEDED: 7 * 86400, JobStatus.CANCELLED: 7 * 86400,
                        JobStatus.DEAD: 30 * 86400}
    settings = Settings.from_env({"QUORRA_RETAIN_SUCCEEDED": "12h", "QUORRA_RETAIN_CANCELLED": "0",
                                  "QUORRA_RETAIN_DEAD": "1.5d"})
    assert (settings.retain_succeeded, settings.retain_cancelled, settings.retain_dead) == (
        43200, 0, 1.5 * 86400)


@pytest.mark.parametrize("value", ["-1d", "forever", "7 days", "nan", "1e12"])
def test_bad_retention_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="QUORRA_RETAIN_DEAD"):
        Settings.from_env({"QUORRA_RETAIN_DEAD": value})


def test_job_timeout_defaults_to_none_and_takes_units() -> None:
    assert Settings.from_env({}).job_timeout == 0
    assert Settings.from_env({"QUORRA_JOB_TIMEOUT": "90s"}).job_timeout == 90
    assert Settings.from_env({"QUORRA_JOB_TIMEOUT": "15m"}).job_timeout == 900
    assert Settings.from_env({"QUORRA_JOB_TIMEOUT": "7d"}).job_timeout == 7 * 86400


@pytest.mark.parametrize("value", ["-1s", "8d", "soon", "nan", "inf"])
def test_bad_job_timeout_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="QUORRA_JOB_TIMEOUT"):
        Settings.from_env({"QUORRA_JOB_TIMEOUT": value})


def test_admin_key_is_long_and_not_the_sample() -> None:
    base = {"DATABASE_URL": "postgresql://x/y"}
    with pytest.raises(ConfigError, match="QUORRA_API_KEY: is too short"):
        Settings.from_env({**base, "QUORRA_API_KEY": "fifteen-chars-x"}).require_server()
    with pytest.raises(ConfigError, match="sample placeholder"):
        Settings.from_env({**base, "QUORRA_API_KEY": "REPLACE-with-a-long-random-secret"}
                          ).require_server()
    Settings.from_env({**base, "QUORRA_API_KEY": "sixteen-chars-xx"}).require_server()


def test_sample_key_is_the_one_in_deployments() -> None:
    from pathlib import Path

    from quorra.settings import SAMPLE_API_KEYS

    secret = Path(__file__).parents[2] / "deployments" / "k8s" / "secret.yaml"
    (line,) = [x for x in secret.read_text().splitlines() if x.strip().startswith("api-key:")]
    assert line.split(":", 1)[1].strip() in SAMPLE_API_KEYS


def test_auth_settings() -> None:
    settings = Settings.from_env({"QUORRA_PROTECT_METRICS": "true",
                                  "QUORRA_AUTH_FAILURE_LIMIT": "5",
                                  "QUORRA_AUTH_FAILURE_WINDOW": "30s"})
    assert (settings.protect_metrics, settings.auth_failure_limit,
            settings.auth_failure_window) == (True, 5, 30.0)
    assert Settings().auth_failure_limit == 20 and not Settings().protect_metrics
