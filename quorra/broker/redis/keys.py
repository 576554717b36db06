"""Every Redis key, channel and group name Quorra uses, built here and nowhere else.

Per-queue keys share the hash tag ``{q:<queue>}`` so one script can touch all of them on Redis
Cluster (queue names cannot contain braces). ``docs/redis-keys.md`` lists them with their types,
writers and readers.
"""

from __future__ import annotations

import dataclasses

__all__ = ["GROUP", "LEASE_MODE", "PREFIX", "TOKEN", "WAKE_CHANNEL", "QueueKeys", "queue_keys"]

PREFIX = "quorra"
GROUP = "dispatch"
TOKEN = f"{PREFIX}:{{meta}}:token"  # STRING: id of this copy of the dataset
LEASE_MODE = f"{PREFIX}:{{meta}}:lease_mode"  # STRING: "grant" or "stream", set with the token
WAKE_CHANNEL = f"{PREFIX}:wake"  # pub/sub: a queue name, published when jobs were dispatched


@dataclasses.dataclass(frozen=True, slots=True)
class QueueKeys:
    ready: str  # ZSET  score -priority, member "<run_at_us:017>:<job>:<seq>"
    delayed: str  # ZSET  score due ms, member "<ready member>:<priority>"
    stream: str  # STREAM + group GROUP: proposals read by a server, not yet granted
    idx: str  # HASH  job id -> dispatch_seq of its live entry
    paused: str  # STRING "1" while the queue is paused (mirrors quorra_queues): no lease
    bodies: str  # HASH  job id -> encoded job body (stream leases only)
    leases: str  # HASH  job id -> "lease|entry|deadline_ms|seq|leased_ms|worker" (stream leases)
    limits: str  # HASH  c = max concurrency, r = rate limit, p = rate period ms (stream leases)
    rate: str  # STRING leases in the current rate window; expires when the window ends


def queue_keys(queue: str) -> QueueKeys:
    tag = f"{PREFIX}:{{q:{queue}}}"
    return QueueKeys(ready=f"{tag}:ready", delayed=f"{tag}:delayed", stream=f"{tag}:stream",
                     idx=f"{tag}:idx", paused=f"{tag}:paused", bodies=f"{tag}:bodies",
                     leases=f"{tag}:leases", limits=f"{tag}:limits", rate=f"{tag}:rate")
