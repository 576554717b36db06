"""Dev mode's small parts: the persisted API key and the root reachability check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from quorra.devmode.embedded import DevModeError, check_reachable, load_or_create_key


def test_the_dev_key_is_random_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    key = load_or_create_key(path)
    assert len(key) >= 24 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path) == key
    assert load_or_create_key(tmp_path / "other") != key


@pytest.mark.skipif(os.geteuid() != 0, reason="the check only applies to root")
def test_root_refuses_a_data_dir_the_postgres_user_cannot_reach(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(DevModeError, match="QUORRA_DEV_DIR"):
        check_reachable(closed / "dev" / "postgres")
    closed.chmod(0o755)
    tmp_path.chmod(0o755)
    if all(p.stat().st_mode & 0o001 for p in tmp_path.parents):
        check_reachable(closed / "dev" / "postgres")
