"""``quorra-server`` as a real process: the README's curl examples, config errors naming the
variable, migrations (idempotent, concurrent replicas), clean shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from quorra.db.migrate import available_migrations
from tests.e2e.process import server_command, server_env, start_server
from tests.support import DROP_SCHEMA

DEV_KEY = "dev-api-key-change-in-production"


@pytest.fixture
def empty_db(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(DROP_SCHEMA)
    yield database_url


def test_readme_curl_examples_work_verbatim(empty_db: str) -> None:
    with start_server(empty_db, DEV_KEY, name="readme") as server:
        headers = {"Content-Type": "application/json", "X-API-Key": DEV_KEY}
        body = ('{\n    "type": "email_send",\n    "payload": {"to": "test@example.com", '
                '"subject": "Hello"},\n    "queue": "default",\n    "priority": 10,\n'
                '    "max_retries": 3\n  }')
        created = httpx.post(f"{server.url}/v1/jobs", content=body, headers=headers)
        assert created.status_code == 201
        job_id = created.json()["id"]
        job = httpx.get(f"{server.url}/v1/jobs/{job_id}", headers={"X-API-Key": DEV_KEY})
        assert job.status_code == 200 and job.json()["type"] == "email_send"
        queues = httpx.get(f"{server.url}/v1/queues", headers={"X-API-Key": DEV_KEY})
        assert queues.json() == {"queues": [{"queue": "default", "status": "pending",
                                             "count": 1}], "paused": [], "limits": {}}
        query = httpx.get(f"{server.url}/v1/recent?api_key={DEV_KEY}")
        assert [j["id"] for j in query.json()["jobs"]] == [job_id]
        metrics = httpx.get(f"{server.url}/metrics")
        assert 'quorra_jobs_created_total{queue="default"} 1.0' in metrics.text
        assert server.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_is_clean(empty_db: str, sig: signal.Signals) -> None:
    with start_server(empty_db, "k" * 16, name=f"stop-{sig.name}") as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert server.stop(sig, timeout=10) == 0
        log = server.log.read_text()
        assert "Traceback" not in log, log


@pytest.mark.parametrize(("variable", "value"), [
    ("QUORRA_HTTP_ADDR", "not-an-address"),
    ("QUORRA_LOG_LEVEL", "chatty"),
    ("QUORRA_LEASE_TTL", "-5s"),
    ("DATABASE_URL", "mysql://nope"),
    ("QUORRA_API_KEY", ""),
])
def test_invalid_setting_stops_server_naming_it(empty_db: str, variable: str,
                                               value: str) -> None:
    env = server_env(empty_db, "k" * 16, **{variable: value})
    done = subprocess.run(server_command(), env=env, capture_output=True, timeout=30)
    assert done.returncode != 0
    assert variable in done.stderr.decode()


def test_unreachable_database_is_a_clear_error(empty_db: str) -> None:
    env = server_env("postgresql://postgres@127.0.0.1:1/nope", "k" * 16,
                     QUORRA_DB_TIMEOUT="1s")
    done = subprocess.run(server_command(), env=env, capture_output=True, timeout=30)
    assert done.returncode == 1
    assert "DATABASE_URL" in done.stderr.decode()


def test_migrate_is_idempotent_and_safe_concurrently(empty_db: str) -> None:
    env = server_env(empty_db, "k" * 16)
    runs = [subprocess.Popen(server_command("migrate"), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE) for _ in range(4)]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    applied = [out.decode() for out, _ in outputs if b"applied:" in out]
    assert len(applied) == 1, "exactly one replica applies the migration"
    again = subprocess.run(server_command("migrate"), env=env, capture_output=True, timeout=30)
    assert again.returncode == 0 and b"up to date" in again.stdout
    with psycopg.connect(empty_db) as conn:
        versions = conn.execute("SELECT version FROM quorra_migrations ORDER BY 1").fetchall()
    assert versions == [(version,) for version, _, _ in available_migrations()]


def test_a_python_producer_reads_the_413_of_a_body_over_the_limit(empty_db: str) -> None:
    """The server reads (and discards) an oversized body before it answers, so a client that
    sends the whole body first (urllib) gets the 413 instead of a connection reset."""
    with start_server(empty_db, DEV_KEY, name="body-413") as server:
        body = b'{"type": "t", "payload": {"blob": "' + b"x" * (12 * 1024 * 1024) + b'"}}'
        request = urllib.request.Request(
            f"{server.url}/v1/jobs", data=body, method="POST",
            headers={"Content-Type": "application/json", "X-API-Key": DEV_KEY})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=30)
        assert answer.value.code == 413
        assert "error" in json.loads(answer.value.read())
        queues = httpx.get(f"{server.url}/v1/queues", headers={"X-API-Key": DEV_KEY})
        assert queues.json() == {"queues": [], "paused": [], "limits": {}}
