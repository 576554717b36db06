"""Real restarts under load (issue 21): a private PostgreSQL restarted in fast and immediate
shutdown mode, in both dispatch modes, and a private redis-server restarted (empty) in Redis
mode, while four producers post single jobs over REST to a real quorra-server and a real
quorra-worker runs them. Every job that got a 201 runs within a bound, none runs twice unless
a lease expired, producers see only 201s and 503 JSON errors (never a 500 or a hang), and
neither Quorra process is restarted. The TCP-proxy cut (``test_outage.py``) stays too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.process import ARTIFACTS
from tests.integration.private_postgres import PrivatePostgres
from tests.integration.restarts.scenario import Dispatch, Plan, Result, Shutdown, run_plan

pytestmark = pytest.mark.slow

DURATION, RESTART_AT, DOWN, SETTLE = 10.0, 3.0, 2.0, 30.0


def check(result: Result) -> None:
    row = result.row()
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "restarts.jsonl").open("a") as out:
        out.write(json.dumps(row) + "\n")
    print(json.dumps(row))
    assert not result.errors, f"answers other than 201 or a 503 JSON error: {result.errors[:5]}"
    assert result.created and result.accepted_after, "enqueue did not go on after the restart"
    assert not result.missing, (
        f"{len(result.missing)} of {len(result.created)} accepted jobs never ran within "
        f"{result.plan.settle:.0f}s after the load: {sorted(result.missing)[:5]}")
    assert not result.unexplained_duplicates, (
        f"run twice without a lease expiry: {result.unexplained_duplicates[:5]}")
    assert result.quorra_restarted == [], "Quorra needed a restart"
    assert result.pending_after == 0 and result.healthy_after
    assert not result.server_errors, "\n".join(result.server_errors[:20])


@pytest.mark.parametrize("dispatch", ["postgres", "redis"])
@pytest.mark.parametrize("shutdown", ["fast", "immediate"])
def test_postgres_restart_under_load(dispatch: Dispatch, shutdown: Shutdown,
                                     private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    check(run_plan(Plan(dispatch, "postgres", shutdown, duration=DURATION,
                        restart_at=RESTART_AT, down=DOWN, settle=SETTLE),
                   private_postgres, tmp_path))


@pytest.mark.parametrize("shutdown", ["fast", "immediate"])
def test_redis_restart_under_load(shutdown: Shutdown, private_postgres: PrivatePostgres,
                                  tmp_path: Path) -> None:
    result = run_plan(Plan("redis", "redis", shutdown, duration=DURATION, restart_at=RESTART_AT,
                           down=DOWN, settle=SETTLE), private_postgres, tmp_path)
    check(result)
    assert not result.unavailable, "a Redis restart must not fail an enqueue"
