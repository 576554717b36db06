"""``quorra.rpc.convert.timestamp`` matches protobuf's own conversion, to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from quorra.rpc.convert import timestamp


@pytest.mark.parametrize("value", [
    datetime(2026, 11, 28, 0, 25, 1, 736435, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1960, 5, 3, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=5))),
    datetime(2100, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
    datetime(2026, 1, 2, 3, 4, 5, 6),  # naive: UTC, as protobuf reads it
])
def test_same_as_protobuf(value: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(value)
    assert timestamp(value) == expected


def test_none_stays_none() -> None:
    assert timestamp(None) is None
