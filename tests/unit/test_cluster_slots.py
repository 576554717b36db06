"""On Redis Cluster a script may touch only keys of one hash slot (the server refuses others
with CROSSSLOT): every script's ``KEYS``, as the code that calls it builds them, must share one
hash tag. Each index method runs here against a recording client, so a new script or a new key
passed to one is checked without a cluster."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from redis.crc import key_slot

from quorra.broker.redis.index import _SCRIPTS, Entry, Proposal, translate
from quorra.broker.redis.keys import TOKEN, queue_keys
from quorra.broker.redis.stream_index import _STREAM_SCRIPTS, BodyEntry, Held, StreamIndex
from quorra.core.errors import DispatchUnavailable

JOB, LEASE = uuid.uuid4(), uuid.uuid4()
_TAG = re.compile(r"\{([^}]*)\}")


def _script_names() -> dict[str, str]:
    folder = resources.files("quorra.broker.redis").joinpath("lua")
    return {folder.joinpath(f"{name}.lua").read_text("utf-8"): name
            for name in (*_SCRIPTS, *_STREAM_SCRIPTS)}


_REPLIES: dict[str, Any] = {
    "lease": [0], "reclaim": ["0-0", 0], "cancel": [],
    "stream_lease": [0, 1, 0, json.dumps([])], "stream_fence": [None],
    "stream_extend": [None], "stream_expire": ["0-0"],
}


class _Recorder:
    """Stands in for the client: scripts record the keys they were called with."""

    def __init__(self) -> None:
        self.calls: dict[str, list[list[str]]] = {}
        self._names = _script_names()
        self.pipelined: list[tuple[Any, ...]] = []

    def register_script(self, text: str) -> Any:
        name = self._names[text]

        async def call(*, keys: Sequence[str], args: Sequence[Any]) -> Any:
            self.calls.setdefault(name, []).append(list(keys))
            if name == "init":  # the token and lease mode it was given (a new dataset)
                return list(args[:2])
            return _REPLIES.get(name, 0)

        return call


def _slots(keys: Sequence[str]) -> set[int]:
    return {key_slot(key.encode()) for key in keys}


def _declared_keys(name: str) -> int:
    text = resources.files("quorra.broker.redis").joinpath(f"lua/{name}.lua").read_text("utf-8")
    return max((int(n) for n in re.findall(r"KEYS\[(\d+)\]", text)), default=0)


async def _exercise(index: StreamIndex, queue: str) -> None:
    now = datetime.now(UTC)
    entry = Entry(job_id=JOB, queue=queue, seq=1, priority=0, run_at=now)
    held = Held(str(JOB), str(LEASE), "1-0", 1, 1, 1, "w")
    await index.init()
    await super(StreamIndex, index).dispatch(queue, [entry])
    await index.dispatch(queue, [BodyEntry(JOB, queue, 1, 0, now, body="[]")])
    await index.rescore([BodyEntry(JOB, queue, 1, 5, now, body="[]")], {JOB: 0})
    await index.cancel(queue, [entry])
    await super(StreamIndex, index).lease(queue, "c", 1)
    await index.lease(queue, "c", 1)
    await index.settle(queue, [Proposal("1-0", str(JOB), 1)])
    await index.reclaim(queue, "c", 1)
    await index.forget_consumers(queue, "c", 1)
    await index.next_wait(queue)
    await index.fence(queue, [(JOB, LEASE)])
    await index.extend(queue, "c", [(JOB, LEASE, 1.0)])
    await index.done(queue, [held])
    await index.expired(queue, "c")
    await index.forget(queue, [JOB])


async def test_every_script_touches_one_hash_slot() -> None:
    recorder = _Recorder()
    index = StreamIndex(recorder)
    for queue in ("default", "emails", "a:b", "q-1"):
        await _exercise(index, queue)
    assert set(recorder.calls) == {*_SCRIPTS, *_STREAM_SCRIPTS}, "a script was not exercised"
    for name, calls in recorder.calls.items():
        for keys in calls:
            tags = {tuple(_TAG.findall(key)) for key in keys}
            assert len(tags) == 1 and all(len(t) == 1 for t in tags), (name, keys)
            assert len(_slots(keys)) == 1, (name, keys)
            assert len(keys) >= _declared_keys(name), f"{name} reads more KEYS than it gets"


def test_queue_keys_share_the_queue_tag_and_token_stands_alone() -> None:
    keys = queue_keys("emails")
    names = [getattr(keys, field) for field in keys.__slots__]
    assert {tuple(_TAG.findall(k)) for k in names} == {("q:emails",)}
    assert len(_slots(names)) == 1
    assert _TAG.findall(TOKEN) == ["meta"]
    # queues spread over slots (and so over a cluster's masters)
    spread = {key_slot(queue_keys(f"queue-{i}").ready.encode()) * 3 // 16384 for i in range(30)}
    assert spread == {0, 1, 2}


def test_limits_transaction_stays_in_one_slot() -> None:
    keys = queue_keys("emails")
    assert len(_slots([keys.limits, keys.rate])) == 1  # StreamIndex.set_limits' MULTI



async def test_client_internal_errors_are_dispatch_unavailable_ours_are_not() -> None:
    """redis-py's cluster client may fail inside itself while a node dies (a connection closed
    under a concurrent call): that is a failed Redis call; the same error in Quorra's code is a
    bug and propagates."""
    from redis.asyncio.connection import Connection

    with pytest.raises(DispatchUnavailable), translate():
        await Connection()._send_packed_command([b"PING"])  # no writer: raises inside redis-py
    with pytest.raises(AttributeError), translate():
        None.missing  # type: ignore[attr-defined]  # noqa: B018
