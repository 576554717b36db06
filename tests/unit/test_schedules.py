"""Cron schedules' pure parts: parsing and checking, the next tick, and tick ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from quorra.core.errors import InvalidInput, TooLarge
from quorra.core.schedules import Schedule, decode_schedule, next_fire, tick_id, tick_spec
from quorra.core.spec import Limits

LIMITS = Limits(max_payload_bytes=1024)
AT = datetime(2026, 3, 28, 23, 59, 30, tzinfo=UTC)


def body(**fields: object) -> bytes:
    return json.dumps({"name": "nightly", "cron": "0 2 * * *", "job": {"type": "report"}}
                      | fields).encode()


def test_five_fields_fire_on_the_minute_and_six_on_the_second() -> None:
    assert next_fire("*/15 * * * *", "UTC", AT) == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert next_fire("*/20 * * * * *", "UTC", AT) == datetime(2026, 3, 28, 23, 59, 40,
                                                              tzinfo=UTC)


def test_next_fire_is_strictly_after() -> None:
    tick = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert next_fire("* * * * *", "UTC", tick) == tick + timedelta(minutes=1)


def test_time_zone_and_daylight_saving() -> None:
    # Paris moves from UTC+1 to UTC+2 on 2026-03-29: 02:30 local does not exist that day
    assert next_fire("0 9 * * *", "Europe/Paris", AT) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert next_fire("0 9 * * *", "Europe/Paris", datetime(2026, 3, 27, 12, tzinfo=UTC)) \
        == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("fields", "field"), [
    ({"cron": "* * *"}, "cron"),
    ({"cron": "61 * * * *"}, "cron"),
    ({"cron": "0 0 31 2 *"}, "cron"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"name": ""}, "name"),
    ({"name": "has space"}, "name"),
    ({"job": {"type": ""}}, "job.type"),
    ({"job": {"type": "t", "queue": "bad queue"}}, "job.queue"),
    ({"job": {"type": "t", "priority": "5"}}, "job.priority"),
    ({"job": {"type": "t", "timeout_seconds": 0}}, "job.timeout_seconds"),
    ({"job": {"type": "t", "timeout_seconds": 604801}}, "job.timeout_seconds"),
    ({"job": {"type": "t", "payload": {"s": "\u0000"}}}, "job.payload.s"),
    ({"every": "1m"}, "body"),
])
def test_bad_input_names_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_schedule(body(**fields), LIMITS)
    assert caught.value.field == field, caught.value.message


def test_payload_over_the_limit() -> None:
    with pytest.raises(TooLarge):
        decode_schedule(body(job={"type": "t", "payload": {"x": "y" * 2000}}), LIMITS)


def test_the_path_name_wins_and_a_name_is_required() -> None:
    assert decode_schedule(body(name="other"), LIMITS, name="fromPath").name == "fromPath"
    with pytest.raises(InvalidInput) as caught:
        decode_schedule(json.dumps({"cron": "* * * * *", "job": {"type": "t"}}).encode(),
                        LIMITS)
    assert caught.value.field == "name"


def test_a_new_schedule_fires_first_at_its_next_tick() -> None:
    schedule = decode_schedule(body(cron="*/10 * * * * *"), LIMITS)
    now = datetime.now(UTC)
    assert now < schedule.next_run_at <= now + timedelta(seconds=10)


def test_tick_ids_are_deterministic_v7_and_distinct() -> None:
    ticks = [AT + timedelta(seconds=s) for s in range(100)]
    ids = [tick_id("nightly", t) for t in ticks]
    assert ids == [tick_id("nightly", t) for t in ticks]
    assert len(set(ids)) == 100 and {i.version for i in ids} == {7}
    assert sorted(ids) == ids  # time-ordered like every other job id
    assert tick_id("other", AT) != tick_id("nightly", AT)
    assert int(tick_id("nightly", AT).int >> 80) == int(AT.timestamp() * 1000)


def test_tick_spec_is_the_template_at_the_tick() -> None:
    schedule = Schedule(name="n", cron="* * * * *", timezone="UTC", paused=False,
                        next_run_at=AT, job=decode_schedule(body(job={
                            "type": "t", "queue": "q", "priority": 7, "max_retries": 0,
                            "payload": {"a": 1}}), LIMITS).job)
    spec = tick_spec(schedule, AT)
    assert (spec.id, spec.type, spec.queue, spec.priority, spec.max_retries, spec.run_at) == (
        tick_id("n", AT), "t", "q", 7, 0, AT)
    assert json.loads(spec.payload) == {"a": 1}


def test_tick_spec_carries_the_time_limit() -> None:
    def spec_of(job: dict[str, object]) -> float | None:
        schedule = Schedule(name="n", cron="* * * * *", timezone="UTC", paused=False,
                            next_run_at=AT, job=decode_schedule(body(job=job), LIMITS).job)
        return tick_spec(schedule, AT).timeout_seconds

    assert spec_of({"type": "t", "timeout_seconds": 12.5}) == 12.5
    assert spec_of({"type": "t"}) is None  # the server's default applies at enqueue
