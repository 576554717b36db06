"""``quorractl`` against a real ``quorra-server`` process: every command, its JSON output and its
error paths (exit 1 with the server's message, exit 2 on usage errors)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from quorra.cli import main
from tests.e2e.process import ServerProcess, start_server
from tests.support import free_port

API_KEY = "e2e-key-issue6-quorractl"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[ServerProcess]:
    with start_server(database_url, API_KEY, name="quorractl",
                      QUORRA_GRPC_ADDR=f"127.0.0.1:{free_port()}") as srv:
        yield srv


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


def ctl(server: ServerProcess, *args: str, input: str | None = None,
        key: str | None = None) -> Result:
    argv = ["--server", server.url, "--api-key", key or API_KEY, *args]
    return CliRunner().invoke(main, argv, input=input, catch_exceptions=False,
                              env={"QUORRA_GRPC_ADDR": server.grpc})


def ctl_json(server: ServerProcess, *args: str, input: str | None = None) -> Any:
    result = ctl(server, "--output", "json", *args, input=input)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _set_status(database_url: str, job_id: str, status: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE quorra_jobs SET status = %s, finished_at = now(), updated_at = now(),"
                     " last_error = CASE WHEN %s = 'dead' THEN 'boom' END WHERE id = %s",
                     (status, status, job_id))


def test_create_prints_the_job_and_get_shows_it(server: ServerProcess, queue: str) -> None:
    result = ctl(server, "create", "email_send", "--payload", '{"to": "a@example.com"}',
                 "--queue", queue, "--priority", "10", "--delay", "60", "--retries", "5")
    assert result.exit_code == 0, result.output
    assert "Job created successfully!" in result.stdout
    job_id = next(line.split()[-1] for line in result.stdout.splitlines()
                  if line.startswith("ID:"))
    job = ctl_json(server, "get", job_id)
    assert (job["type"], job["queue"], job["priority"], job["max_retries"]) == \
        ("email_send", queue, 10, 5)
    assert job["payload"] == {"to": "a@example.com"}
    assert job["run_at"] > job["created_at"]
    table = ctl(server, "get", job_id)
    assert table.exit_code == 0
    assert "email_send" in table.stdout and "a@example.com" in table.stdout


def test_create_json_output_and_output_option_after_the_command(
        server: ServerProcess, queue: str) -> None:
    created = ctl_json(server, "create", "test_job", "--queue", queue)
    assert set(created) == {"id", "status", "run_at"} and created["status"] == "pending"
    again = ctl(server, "create", "test_job", "--queue", queue, "-o", "json")
    assert json.loads(again.stdout)["status"] == "pending"


def test_queues_and_stats(server: ServerProcess, queue: str) -> None:
    for _ in range(3):
        ctl_json(server, "create", "test_job", "--queue", queue)
    rows = ctl_json(server, "queues")["queues"]
    assert {"queue": queue, "status": "pending", "count": 3} in rows
    for command in ("queues", "stats"):
        table = ctl(server, command)
        assert table.exit_code == 0
        line = next(line for line in table.stdout.splitlines() if queue in line)
        assert "3" in line


def test_server_errors_exit_1_with_the_servers_message(server: ServerProcess) -> None:
    bad_key = ctl(server, "queues", key="wrong-key")
    assert bad_key.exit_code == 1
    assert "Invalid or missing API key" in bad_key.stderr
    missing = ctl(server, "get", str(uuid.uuid4()))
    assert missing.exit_code == 1 and "not found" in missing.stderr.lower()
    invalid = ctl(server, "create", "x", "--priority", "99999999")
    assert invalid.exit_code == 1 and "priority" in invalid.stderr


def test_server_down_exits_1() -> None:
    result = CliRunner().invoke(main, ["--server", f"http://127.0.0.1:{free_port()}",
                                       "--api-key", "k", "queues"])
    assert result.exit_code == 1
    assert "cannot reach" in result.stderr


@pytest.mark.parametrize("args", [
    ["create", "x", "--payload", "{not json"],
    ["create", "x", "--payload", "[1, 2]"],
    ["create"],
    ["get"],
    ["no-such-command"],
    ["--output", "xml", "queues"],
    ["create", "x", "--retries", "-1"],
    ["dlq", "replay"],
])
def test_usage_errors_exit_2(server: ServerProcess, args: list[str]) -> None:
    result = ctl(server, *args)
    assert result.exit_code == 2, result.output


def test_the_console_script_exit_statuses(server: ServerProcess) -> None:
    env = {"QUORRA_URL": server.url, "QUORRA_API_KEY": API_KEY, "PATH": str(BIN)}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "quorractl"), *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=60)

    assert run("queues").returncode == 0
    denied = run("queues", QUORRA_API_KEY="nope")
    assert denied.returncode == 1 and "Invalid or missing API key" in denied.stderr
    assert run("create", "x", "--payload", "oops").returncode == 2


def _lines(queue: str, count: int) -> str:
    return "".join(json.dumps({"type": "bulk", "payload": {"n": n}, "queue": queue}) + "\n"
                   for n in range(count))


def test_enqueue_bulk_from_a_file_in_batches(server: ServerProcess, queue: str,
                                             tmp_path: Path) -> None:
    source = tmp_path / "jobs.jsonl"
    source.write_text(_lines(queue, 1234) + "\n")
    report = ctl_json(server, "enqueue-bulk", str(source), "--batch-size", "300",
                      "--concurrency", "3")
    assert report["enqueued"] == 1234 and report["jobs_per_second"] > 0
    rows = ctl_json(server, "queues")["queues"]
    assert {"queue": queue, "status": "pending", "count": 1234} in rows


def test_enqueue_bulk_from_stdin_with_progress(server: ServerProcess, queue: str) -> None:
    lines = "".join(json.dumps({"type": "bulk"}) + "\n" for _ in range(20))
    result = ctl(server, "enqueue-bulk", "--queue", queue, "--progress", "--batch-size", "7",
                 input=lines)
    assert result.exit_code == 0, result.output
    assert "Enqueued 20 jobs" in result.stdout and "jobs/s" in result.stdout
    assert {"queue": queue, "status": "pending", "count": 20} in ctl_json(server, "queues")[
        "queues"]


def test_enqueue_bulk_bad_line_exits_2_naming_it(server: ServerProcess, queue: str) -> None:
    text = _lines(queue, 2) + "{oops\n" + _lines(queue, 2)
    result = ctl(server, "enqueue-bulk", "--batch-size", "2", "--concurrency", "1",
                 input=text)
    assert result.exit_code == 2
    assert "line 3" in result.stderr and "2 jobs were enqueued" in result.stderr


def test_enqueue_bulk_rejected_batch_exits_1(server: ServerProcess, queue: str) -> None:
    text = _lines(queue, 3) + json.dumps({"type": ""}) + "\n"
    result = ctl(server, "enqueue-bulk", "--batch-size", "10", input=text)
    assert result.exit_code == 1
    assert "type" in result.stderr and "0 jobs were enqueued" in result.stderr


def test_watch_follows_a_job_until_it_succeeds(server: ServerProcess, database_url: str,
                                               queue: str) -> None:
    job_id = ctl_json(server, "create", "test_job", "--queue", queue)["id"]
    timer = threading.Timer(0.6, _set_status, (database_url, job_id, "succeeded"))
    timer.start()
    try:
        result = ctl(server, "watch", job_id, "--interval", "0.1", "--timeout", "30")
    finally:
        timer.join()
    assert result.exit_code == 0, result.output
    assert "pending" in result.stdout and "succeeded" in result.stdout


def test_watch_exits_1_for_a_dead_job_and_on_timeout(server: ServerProcess, database_url: str,
                                                     queue: str) -> None:
    job_id = ctl_json(server, "create", "test_job", "--queue", queue)["id"]
    waited = ctl(server, "watch", job_id, "--interval", "0.1", "--timeout", "0.3")
    assert waited.exit_code == 1 and "still pending" in waited.stderr
    _set_status(database_url, job_id, "dead")
    dead = ctl(server, "-o", "json", "watch", job_id)
    assert dead.exit_code == 1 and "ended dead" in dead.stderr
    assert json.loads(dead.stdout.splitlines()[-1])["last_error"] == "boom"


# -- listing, retry, delete, dlq, workers and cancel -----------------------------------------

def test_list_with_filters_and_paging(server: ServerProcess, queue: str) -> None:
    ids = [ctl_json(server, "create", t, "--queue", queue)["id"] for t in ("a", "b", "a")]
    page = ctl_json(server, "list", "--queue", queue, "--type", "a")
    assert {job["id"] for job in page["jobs"]} == {ids[0], ids[2]}
    first = ctl_json(server, "list", "--queue", queue, "--limit", "2")
    assert len(first["jobs"]) == 2 and first["next_cursor"]
    rest = ctl_json(server, "list", "--queue", queue, "--limit", "2",
                    "--cursor", first["next_cursor"])
    assert {j["id"] for j in first["jobs"] + rest["jobs"]} == set(ids)
    table = ctl(server, "list", "--queue", queue, "--status", "pending")
    assert table.exit_code == 0 and all(job_id in table.stdout for job_id in ids)


def test_dlq_retry_replay_and_delete(server: ServerProcess, database_url: str,
                                    queue: str) -> None:
    ids = [ctl_json(server, "create", "t", "--queue", queue)["id"] for _ in range(3)]
    for job_id in ids:
        _set_status(database_url, job_id, "dead")
    dead = ctl_json(server, "dlq", "--queue", queue)
    assert {job["id"] for job in dead["jobs"]} == set(ids)
    assert ctl_json(server, "retry", ids[0])["status"] == "pending"
    not_dead = ctl(server, "retry", ids[0])
    assert not_dead.exit_code == 1 and "409" in not_dead.stderr
    assert ctl_json(server, "dlq", "replay", ids[1])["retried"] == 1
    assert ctl_json(server, "dlq", "replay", "--queue", queue)["retried"] == 1
    assert ctl_json(server, "delete", ids[2]) == {"deleted": ids[2]}
    gone = ctl(server, "get", ids[2])
    assert gone.exit_code == 1


def test_workers(server: ServerProcess) -> None:
    assert isinstance(ctl_json(server, "workers")["workers"], list)
    assert ctl(server, "workers").exit_code == 0


def test_cancel_one_several_and_in_bulk(server: ServerProcess, database_url: str,
                                       queue: str) -> None:
    ids = [ctl_json(server, "create", t, "--queue", queue)["id"]
           for t in ("a", "a", "b", "b", "b")]
    assert ctl_json(server, "cancel", ids[0])["status"] == "cancelled"
    several = ctl_json(server, "cancel", ids[0], ids[1])  # idempotent
    assert [job["status"] for job in several["jobs"]] == ["cancelled", "cancelled"]
    table = ctl(server, "cancel", ids[2])
    assert table.exit_code == 0 and f"Job {ids[2]} cancelled." in table.stdout
    assert ctl_json(server, "cancel", "--queue", queue, "--type", "b") == {"cancelled": 2}
    assert ctl(server, "cancel", "--queue", queue).stdout.strip() == "Cancelled 0 job(s)."
    _set_status(database_url, ids[3], "succeeded")
    finished = ctl(server, "cancel", ids[3])
    assert finished.exit_code == 1 and "409" in finished.stderr
    for args in ([], [ids[0], "--queue", queue]):
        assert ctl(server, "cancel", *args).exit_code == 2
    bad = ctl(server, "cancel", "--queue", "bad name")
    assert bad.exit_code == 1 and "400" in bad.stderr
