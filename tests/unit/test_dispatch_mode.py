"""Dispatch mode switching (``quorra.broker.redis.mode``): fail fast, return with hysteresis."""

from __future__ import annotations

from quorra.broker.redis.index import Identity
from quorra.broker.redis.mode import Mode, ModeState

A = Identity(run_id="r1", replid="x1", token="t1")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def started(clock: Clock, fail_after: float = 0.0) -> ModeState:
    state = ModeState(recover_after=1.0, min_fallback=3.0, fail_after=fail_after, clock=clock)
    assert (state.mode, state.probed(A)) == (Mode.POSTGRES, True), "first probe rebuilds at once"
    state.rebuilding()
    state.rebuilt(A)
    assert state.mode is Mode.REDIS and state.leases_from_redis
    return state


def test_failure_falls_back_and_return_waits_for_hysteresis() -> None:
    clock = Clock()
    state = started(clock)
    state.failed("down")
    assert state.mode is Mode.POSTGRES and not state.dispatches
    clock.now += 0.5
    assert not state.probed(A), "healthy for 0 s"
    clock.now += 1.5
    assert not state.probed(A), "healthy 1.5 s but only 2 s since the fallback"
    state.failed("down again")
    clock.now += 1.1
    assert not state.probed(A), "a new failure restarts the healthy period"
    clock.now += 1.0
    assert state.probed(A)
    state.rebuilding()
    assert state.dispatches and not state.leases_from_redis, "rebuild: dispatch, lease from PG"
    state.rebuilt(A)
    assert state.mode is Mode.REDIS and state.fallbacks == 1 and state.rebuilds == 2


def test_changed_dataset_triggers_rebuild() -> None:
    clock = Clock()
    state = started(clock)
    assert not state.probed(A)
    for changed in (Identity("r2", "x1", "t1"), Identity("r1", "x2", "t1"),
                    Identity("r1", "x1", None)):
        assert state.probed(changed)
        assert state.mode is Mode.REBUILDING
        state.rebuilt(A)
    assert state.rebuilds == 4


def test_failure_during_rebuild_falls_back() -> None:
    clock = Clock()
    state = started(clock)
    assert state.probed(Identity("r2", "x1", "t1"))
    state.failed("gone")
    state.rebuilt(A)  # a sweep that finished after the failure does not re-enter Redis mode
    assert state.mode is Mode.POSTGRES


def test_one_failed_call_does_not_leave_redis_mode() -> None:
    clock = Clock()
    state = started(clock, fail_after=1.0)
    state.failed("timeout")
    clock.now += 0.9
    state.failed("timeout")
    assert state.mode is Mode.REDIS and state.fallbacks == 0
    assert not state.probed(A), "healthy again: nothing to rebuild"
    clock.now += 0.5
    state.failed("another timeout")  # a new failing period starts here
    clock.now += 0.9
    state.failed("timeout")
    assert state.mode is Mode.REDIS


def test_failures_sustained_past_the_threshold_fall_back() -> None:
    clock = Clock()
    state = started(clock, fail_after=1.0)
    state.failed("refused")
    clock.now += 1.0
    state.failed("refused")
    assert state.mode is Mode.POSTGRES and state.fallbacks == 1
