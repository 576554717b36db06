"""Follow-mode windows: a lease that expired unsettled is forgotten everywhere (no slow leak)."""

from __future__ import annotations

import time
import uuid

from quorra.rpc.feed import Window
from quorra.rpc.settle import Windows


def test_an_expired_lease_leaves_the_registry() -> None:
    windows = Windows()
    window = Window(2, windows.expired)
    expired, live = uuid.uuid4(), uuid.uuid4()
    window.deadlines.update({expired: time.monotonic() - 1, live: time.monotonic() + 60})
    windows.track(expired, window)
    windows.track(live, window)
    assert window.credit() == 1
    assert len(windows) == 1
    windows.settled(live)
    assert len(windows) == 0 and window.credit() == 2
