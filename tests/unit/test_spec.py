from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorra.core.errors import InvalidInput, TooLarge
from quorra.core.ids import new_job_id
from quorra.core.jobs import clamp_lease_ttl
from quorra.core.spec import Limits, decode_batch, decode_enqueue

LIMITS = Limits(max_payload_bytes=64, max_batch_jobs=3)


def test_valid_job_round_trips_payload() -> None:
    spec = decode_enqueue(b'{"type": "t", "payload": {"a": [1, 2.5, "x"]}, "priority": -3}',
                          LIMITS)
    assert json.loads(spec.payload) == {"a": [1, 2.5, "x"]}
    assert (spec.type, spec.queue, spec.priority, spec.max_retries) == ("t", "default", -3, 3)


def test_null_payload_is_empty_object() -> None:
    assert decode_enqueue(b'{"type": "t", "payload": null}', LIMITS).payload == b"{}"


def test_payload_limit_counts_encoded_bytes() -> None:
    with pytest.raises(TooLarge) as caught:
        decode_enqueue(b'{"type": "t", "payload": {"k": "' + b"x" * 80 + b'"}}', LIMITS)
    assert caught.value.field == "payload"


def test_batch_limit_and_field_paths() -> None:
    with pytest.raises(TooLarge):
        decode_batch(b'{"jobs": [{"type":"a"},{"type":"a"},{"type":"a"},{"type":"a"}]}', LIMITS)
    with pytest.raises(InvalidInput) as caught:
        decode_batch(b'{"jobs": [{"type":"a"},{"type":"a","payload":{"x":{"y":"\\u0000"}}}]}',
                     LIMITS)
    assert caught.value.field == "jobs[1].payload.x.y"


@given(st.text())
def test_any_type_string_is_accepted_or_rejected_cleanly(text: str) -> None:
    raw = json.dumps({"type": text}).encode()
    try:
        spec = decode_enqueue(raw, LIMITS)
    except InvalidInput as exc:
        assert exc.field in ("type", "body")  # noqa: PT017
    else:
        assert spec.type == text and "\x00" not in text


def test_lease_clamp() -> None:
    assert clamp_lease_ttl(0.1) == 1 and clamp_lease_ttl(10**9) == 86400


def test_job_ids_are_time_ordered_uuid7() -> None:
    ids = [new_job_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == 5000
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids[:10])


def test_forked_processes_draw_different_random_bits() -> None:
    import os

    new_job_id()  # the parent now holds unread random bytes
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the random part of its next ids, exit without cleanup
        os.close(read_end)
        os.write(write_end, ",".join(str(new_job_id().int & (2**62 - 1))
                                     for _ in range(50)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child = {int(part) for part in pipe.read().split(",")}
    os.waitpid(pid, 0)
    parent = {new_job_id().int & (2**62 - 1) for _ in range(50)}
    assert len(child) == 50 and not child & parent
