"""Dev mode's small parts: the API key it gives the server and where PostgreSQL keeps its data
when started as root."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from quorra.devmode.embedded import (
    DEVELOPMENT_KEY,
    DevModeError,
    dev_key,
    load_or_create_key,
    postgres_dir,
    reachable,
)


def test_the_generated_key_is_random_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    key = load_or_create_key(path)
    assert len(key) >= 24 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path) == key
    assert load_or_create_key(tmp_path / "other") != key


def test_on_loopback_the_documented_key_elsewhere_a_generated_one(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    assert dev_key(path, loopback=True) == DEVELOPMENT_KEY
    assert path.read_text().strip() == DEVELOPMENT_KEY, "quorractl reads it from there"
    assert path.stat().st_mode & 0o777 == 0o600
    other = tmp_path / "exposed-key"
    generated = dev_key(other, loopback=False)
    assert generated != DEVELOPMENT_KEY and len(generated) >= 24
    assert dev_key(other, loopback=False) == generated


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands PostgreSQL to another user")
def test_as_root_an_unreachable_data_dir_keeps_postgres_elsewhere(tmp_path: Path) -> None:
    closed = tmp_path / "closed"  # as `mktemp -d` makes it
    closed.mkdir(mode=0o700)
    data = closed / "dev"
    assert not reachable(data / "postgres")
    target = postgres_dir(data)
    try:
        assert target.parent == Path("/var/tmp/quorra-dev-postgres")
        assert reachable(target / "PG_VERSION")
        assert (data / "postgres").is_symlink() and (data / "postgres").resolve() == target
        assert postgres_dir(data) == target, "the next start finds the same directory"
        assert postgres_dir(tmp_path / "closed" / "other") != target
    finally:
        shutil.rmtree(target, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands PostgreSQL to another user")
def test_as_root_an_existing_unreachable_postgres_dir_is_refused(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    (closed / "dev" / "postgres").mkdir(parents=True)
    closed.chmod(0o700)
    with pytest.raises(DevModeError, match="chmod o\\+x"):
        postgres_dir(closed / "dev")


def test_a_reachable_data_dir_keeps_postgres_inside(tmp_path: Path) -> None:
    if not reachable(tmp_path / "dev" / "postgres"):
        pytest.skip("this tmp_path is not enterable by other users")
    assert postgres_dir(tmp_path / "dev") == tmp_path / "dev" / "postgres"
