"""Job search terms: a payload object (canonical JSON) and an id prefix (a UUID range)."""

from __future__ import annotations

import uuid

import pytest

from quorra.core.errors import InvalidInput
from quorra.core.search import MAX_PAYLOAD_TERM, id_range, payload_term


def test_payload_term_is_canonical_json_of_an_object() -> None:
    assert payload_term('{"b": 1, "a": {"y": [1, "x"]}}') == '{"a":{"y":[1,"x"]},"b":1}'
    assert payload_term(None) is None and payload_term("  ") is None


@pytest.mark.parametrize("text", ["[1]", "42", '"s"', "null", "{", "{'a': 1}",
                                  "x" * (MAX_PAYLOAD_TERM + 1), "\ud800", '{"a": "\\u0000"}',
                                  '{"\\u0000": 1}', '{"a": NaN}', "[" * 100 + "]" * 100])
def test_payload_term_refuses_what_is_not_a_json_object(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        payload_term(text)
    assert caught.value.field.startswith("payload")


def test_id_range_covers_exactly_the_ids_with_the_prefix() -> None:
    bounds = id_range("01A2")
    assert bounds is not None
    low, high = bounds
    assert low == uuid.UUID("01a20000-0000-0000-0000-000000000000")
    assert high == uuid.UUID("01a2ffff-ffff-ffff-ffff-ffffffffffff")
    job = uuid.UUID("0190f5c2-7b3e-7000-8000-0123456789ab")
    assert id_range(str(job)) == (job, job)
    assert id_range("0190f5c2-7b") == (uuid.UUID("0190f5c2-7b00-0000-0000-000000000000"),
                                        uuid.UUID("0190f5c2-7bff-ffff-ffff-ffffffffffff"))
    assert id_range(None) is None and id_range("") is None


@pytest.mark.parametrize("prefix", ["xyz", "0" * 33, "-", "01a2%", "01 a2", "١٢"])
def test_id_range_refuses_what_is_not_hex(prefix: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        id_range(prefix)
    assert caught.value.field == "id_prefix"
