"""PostgreSQL failover under load (issue 19): a primary with a synchronous streaming standby;
``DATABASE_URL`` names both hosts with ``target_session_attrs=read-write``. Part-way through the
load the primary crashes (immediate shutdown) and, after a detection delay, the standby is
promoted. The same real quorra-server keeps serving: every job that got a 201 runs (synchronous
replication: a committed job is on the standby), none twice without a lease expiry, producers
see only 201s and 503 JSON errors, no Quorra process is restarted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.private_postgres import PrivatePostgres, started_or_skip
from tests.integration.restarts.scenario import Dispatch, Plan, run_plan
from tests.integration.restarts.test_restarts import check

pytestmark = pytest.mark.slow


@pytest.fixture
def primary() -> Iterator[PrivatePostgres]:
    with started_or_skip() as server:
        yield server


@pytest.fixture
def standby(primary: PrivatePostgres) -> Iterator[PrivatePostgres]:
    replica = primary.standby()
    try:
        primary.wait_for_sync_standby()
        yield replica
    finally:
        replica.destroy()


@pytest.mark.parametrize("dispatch", ["postgres", "redis"])
def test_failover_to_a_promoted_standby_under_load(
        dispatch: Dispatch, primary: PrivatePostgres, standby: PrivatePostgres,
        tmp_path: Path) -> None:
    plan = Plan(dispatch, "failover", "immediate", duration=10.0, restart_at=3.0, down=1.0,
                settle=30.0)
    result = run_plan(plan, primary, tmp_path, standby=standby)
    check(result)
    assert standby.writable() and not primary.accepting()
