"""A private PostgreSQL cluster (``initdb`` + ``pg_ctl``) on a temporary directory and a free
port, for tests and benchmarks that restart or stop PostgreSQL under load: the shared test
server serves others and is never touched that way.

Trust authentication on 127.0.0.1 only. ``initdb`` and ``postgres`` refuse to run as root, so
under root (CI containers) the cluster runs as the ``postgres`` system user, with the data
directory handed to it. Missing binaries skip the test, or fail it under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

from tests.support import free_port, missing, wait_until

__all__ = ["PostgresMissing", "PrivatePostgres", "postgres_bindir", "started_or_skip"]

Mode = Literal["smart", "fast", "immediate"]
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "100",
    "shared_buffers": "'32MB'",
    "fsync": "off",  # the OS never crashes under these tests; an immediate stop still recovers
    "full_page_writes": "off",
    "log_min_messages": "warning",
    "log_checkpoints": "off",
}


class PostgresMissing(RuntimeError):
    """No ``initdb``/``pg_ctl`` on this machine (or no unprivileged user to run them as)."""


def postgres_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``: ``$PG_BINDIR``, then
    ``pg_config --bindir``, then ``/usr/lib/postgresql/*/bin`` (newest), then ``PATH``."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    if shutil.which("pg_config"):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
            candidates.append(Path(out))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: [int(x) for x in Path(p).parent.name.split(".")
                                     if x.isdigit()], reverse=True)
    candidates += [Path(p) for p in versions]
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all((bindir / tool).is_file()
               for tool in ("initdb", "pg_ctl", "postgres", "pg_basebackup")):
            return bindir
    raise PostgresMissing("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found")


class PrivatePostgres:
    """``start()``, ``restart(mode)``, ``stop()``, ``url`` (the ``postgres`` database; see
    ``database_url`` for another); ``standby()`` and ``promote()`` for a failover."""

    def __init__(self, *, user: str = "postgres") -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.user = user  # the database superuser name (trust auth)
        self.run_as: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self.run_as = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresMissing("running as root and there is no 'postgres' system user "
                                      "to run the private cluster as") from None
        # not under pytest's tmp_path: that is private to root, and the cluster may not be
        self.root = Path(tempfile.mkdtemp(prefix="quorra-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.initialized = False

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as.pw_name, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=self.root, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): "
                               f"{done.stdout}{done.stderr}\n{self._log_tail()}")
        return done

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _own_root(self) -> None:
        if self.run_as is not None:
            os.chown(self.root, self.run_as.pw_uid, self.run_as.pw_gid)
        self.root.chmod(0o700)

    def _configure(self, settings: dict[str, str]) -> None:
        with (self.data / "postgresql.conf").open("a") as conf:  # later lines win
            for name, value in (settings | {"port": str(self.port),
                                            "unix_socket_directories": f"'{self.root}'"}).items():
                conf.write(f"{name} = {value}\n")

    def _initdb(self) -> None:
        self._own_root()
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust",
                  "--encoding=UTF8", "--no-sync", "--no-instructions")
        self._configure(SETTINGS)
        self.initialized = True

    def standby(self) -> PrivatePostgres:
        """A streaming replica of this (running) cluster, started, on its own port and
        directory (``pg_basebackup -R``: it follows this one until ``promote()``)."""
        replica = PrivatePostgres(user=self.user)
        replica._own_root()
        replica._run("pg_basebackup", "-D", str(replica.data), "-h", "127.0.0.1", "-p",
                     str(self.port), "-U", self.user, "-R", "-X", "stream", "--no-sync",
                     timeout=120)
        replica._configure({})
        replica.initialized = True
        return replica.start()

    def wait_for_sync_standby(self) -> None:
        """Make commits here wait for a standby (synchronous replication): a commit that
        returned is on the standby too, so a failover loses no committed job."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
            conn.execute("SELECT pg_reload_conf()")

        def synchronous() -> bool:
            with psycopg.connect(self.url, autocommit=True) as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_replication "
                                   "WHERE sync_state = 'sync'").fetchone()
            return row is not None and row[0] > 0

        wait_until(synchronous, timeout=30, what="a synchronous standby")

    def promote(self) -> None:
        """End recovery: this standby becomes a primary that accepts writes."""
        self._run("pg_ctl", "promote", "-D", str(self.data), "-w", "-t", "60")
        wait_until(self.writable, timeout=30, what="the promoted standby to accept writes")

    def writable(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=1, autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            return row is not None and not row[0]
        except psycopg.OperationalError:
            return False

    def start(self) -> PrivatePostgres:
        if not self.initialized:
            self._initdb()
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", "60")
        wait_until(self.accepting, timeout=30, what=f"private PostgreSQL on port {self.port}")
        return self

    def restart(self, mode: Mode = "fast", *, down: float = 0.0) -> float:
        """Stop (``fast``: disconnect clients, checkpoint; ``immediate``: no checkpoint, crash
        recovery on start) and start again, after ``down`` seconds stopped (a managed
        database's restart takes a few); returns the seconds it was unavailable."""
        started = time.monotonic()
        if down > 0:
            self.stop(mode)
            time.sleep(down)  # the outage's planned length, not a wait for a condition
            self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w",
                      "-t", "60")
        else:
            self._run("pg_ctl", "restart", "-D", str(self.data), "-m", mode, "-l",
                      str(self.log), "-w", "-t", "60")
        wait_until(self.accepting, timeout=30, what="private PostgreSQL back after restart")
        return time.monotonic() - started

    def stop(self, mode: Mode = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def accepting(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=1, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def destroy(self) -> None:
        """Stop (immediately) and remove the data directory."""
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.destroy()


@contextlib.contextmanager
def started_or_skip() -> Iterator[PrivatePostgres]:
    """A started private cluster, destroyed after; without the server binaries the test is
    skipped (failed under ``CI=true``)."""
    try:
        server = PrivatePostgres()
    except PostgresMissing as exc:
        missing(str(exc))
        raise
    try:
        yield server.start()
    finally:
        server.destroy()
