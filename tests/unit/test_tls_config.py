"""TLS settings: the server's (pairs, readable files, mTLS needs TLS) and the clients'."""

from __future__ import annotations

from pathlib import Path

import pytest

from quorra.channels import ChannelTls
from quorra.core.errors import ConfigError
from quorra.settings import Settings

BASE = {"DATABASE_URL": "postgresql://x/y",
        "QUORRA_API_KEY": "tls-test-key-0123456789"}


@pytest.fixture
def pem(tmp_path: Path) -> str:
    path = tmp_path / "x.pem"
    path.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    return str(path)


@pytest.mark.parametrize(("given", "named"), [
    ({"QUORRA_GRPC_TLS_CERT": "{pem}"}, "QUORRA_GRPC_TLS_KEY"),
    ({"QUORRA_HTTP_TLS_KEY": "{pem}"}, "QUORRA_HTTP_TLS_CERT"),
    ({"QUORRA_GRPC_TLS_CLIENT_CA": "{pem}"}, "QUORRA_GRPC_TLS_CLIENT_CA"),
])
def test_server_tls_settings_come_in_pairs(given: dict[str, str], named: str, pem: str) -> None:
    settings = Settings.from_env(BASE | {k: v.format(pem=pem) for k, v in given.items()})
    with pytest.raises(ConfigError) as caught:
        settings.require_server()
    assert caught.value.variable == named


def test_an_unreadable_file_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(BASE | {"QUORRA_GRPC_TLS_CERT": "/nonexistent/cert.pem"})
    assert caught.value.variable == "QUORRA_GRPC_TLS_CERT"


def test_full_server_tls(pem: str) -> None:
    names = ("QUORRA_GRPC_TLS_CERT", "QUORRA_GRPC_TLS_KEY", "QUORRA_GRPC_TLS_CLIENT_CA",
             "QUORRA_HTTP_TLS_CERT", "QUORRA_HTTP_TLS_KEY")
    settings = Settings.from_env(BASE | dict.fromkeys(names, pem)
                                 | {"QUORRA_FORWARDED_ALLOW_IPS": "10.0.0.1"})
    settings.require_server()
    assert settings.tls.grpc_client_ca == pem and settings.tls.forwarded_allow_ips == "10.0.0.1"


def test_client_tls_from_env(pem: str) -> None:
    assert ChannelTls.from_env({}) == ChannelTls()
    assert ChannelTls.from_env({}).credentials() is None
    assert ChannelTls.from_env({"QUORRA_GRPC_TLS": "true"}).enabled
    with_ca = ChannelTls.from_env({"QUORRA_TLS_CA": pem})
    assert with_ca.enabled and with_ca.ca is not None and with_ca.credentials() is not None
    with pytest.raises(ConfigError) as caught:
        ChannelTls.from_env({"QUORRA_TLS_CLIENT_CERT": pem})
    assert caught.value.variable == "QUORRA_TLS_CLIENT_CERT"
    with pytest.raises(ConfigError) as caught:
        ChannelTls.from_env({"QUORRA_TLS_CA": "/nonexistent.pem"})
    assert caught.value.variable == "QUORRA_TLS_CA"
