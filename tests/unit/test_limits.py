"""Queue limits are checked before anything is stored: each bad value names its field."""

from __future__ import annotations

import pytest

from quorra.core.errors import InvalidInput
from quorra.core.limits import QueueLimits, check_limits


@pytest.mark.parametrize("limits", [
    QueueLimits(max_concurrency=0), QueueLimits(rate_limit=5), QueueLimits(rate_period=1.0),
    QueueLimits(rate_limit=5, rate_period=0), QueueLimits(max_concurrency=10**7),
])
def test_bad_limits_name_their_field(limits: QueueLimits) -> None:
    with pytest.raises(InvalidInput) as info:
        check_limits(limits)
    assert info.value.field in {"max_concurrency", "rate_limit", "rate_period"}
