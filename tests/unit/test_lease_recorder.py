"""The lease recorder's queue: what is written when, and what is never written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from quorra.broker.redis.recorder import LeaseRecorder, Record
from quorra.core.errors import StoreUnavailable


def _record(**fields: Any) -> Record:
    values: dict[str, Any] = {"id": uuid.uuid4(), "seq": 0, "lease_id": uuid.uuid4(),
                              "leased_ms": 1, "deadline_ms": 2, "worker": "w", "queue": "q"}
    return Record(**{**values, **fields})


class _Recorder(LeaseRecorder):
    def __init__(self, fail: bool = False) -> None:
        super().__init__(None, "")  # type: ignore[arg-type]
        self.batches: list[list[Record]] = []
        self.fail = fail

    async def _write(self, records: list[Record]) -> int:
        if self.fail:
            raise StoreUnavailable("PostgreSQL is unavailable")
        self.batches.append(records)
        return len(records)


async def test_only_leases_older_than_the_interval_are_due() -> None:
    recorder = _Recorder()
    old, new = _record(queued_at=0.0), _record()
    recorder.add([old, new])
    assert await recorder.flush(older_than=0.25) == 1
    assert recorder.batches == [[old]]
    assert recorder.find(new.lease_id) is new and recorder.backlog == 1
    assert await recorder.flush() == 1  # an explicit flush writes everything


async def test_settled_and_disowned_leases_are_never_written() -> None:
    recorder = _Recorder()
    settled, lost, kept = _record(), _record(), _record()
    recorder.add([settled, lost, kept])
    recorder.discard([settled.lease_id])
    await recorder.disowned(lost.lease_id)
    assert recorder.moved(kept.lease_id, 99) and kept.deadline_ms == 99
    await recorder.flush()
    assert recorder.batches == [[kept]]
    assert recorder.drop_queued() == 0


async def test_a_failed_write_keeps_the_leases_queued() -> None:
    recorder = _Recorder(fail=True)
    record = _record()
    recorder.add([record])
    with pytest.raises(StoreUnavailable):
        await recorder.flush()
    assert recorder.find(record.lease_id) is record
    recorder.fail = False
    assert await recorder.flush() == 1


async def test_a_rebuild_drops_what_is_queued() -> None:
    recorder = _Recorder()
    recorder.add([_record(), _record()])
    assert recorder.drop_queued() == 2
    assert await recorder.flush() == 0 and recorder.backlog == 0


async def test_a_failed_write_queues_its_leases_again_as_the_oldest() -> None:
    recorder = _Recorder(fail=True)
    old, new = _record(queued_at=0.0), _record()
    recorder.add([old, new])
    with pytest.raises(StoreUnavailable):
        await recorder.flush(older_than=0.25)
    recorder.fail = False
    assert await recorder.flush(older_than=0.25) == 1  # still due, though queued again
    assert recorder.batches == [[old]] and recorder.find(new.lease_id) is new


async def test_a_tick_is_never_longer_than_the_interval() -> None:
    assert _Recorder().tick == 0.1
    assert LeaseRecorder(None, "", interval=0.05).tick == 0.05  # type: ignore[arg-type]
