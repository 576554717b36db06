"""W3C Trace Context ``traceparent`` values (https://www.w3.org/TR/trace-context/): checked on
the way in and stored in one normal form, version ``00``.

A producer's ``traceparent`` (REST header, gRPC metadata or the job's own field) is kept with
the job so its spans (server enqueue, time queued, each handler run) join the producer's trace.
A later version is read by its first four fields, as the specification asks, and stored as
``00``; version ``ff``, all-zero ids, upper-case hex and anything else malformed are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from quorra.core.errors import InvalidInput
from quorra.core.jobs import JobSpec

__all__ = ["MAX_TRACEPARENT_CHARS", "TRACEPARENT", "check_traceparent", "inherit_traceparent"]

TRACEPARENT = "traceparent"  # the header / metadata key (lower case, as gRPC requires)
MAX_TRACEPARENT_CHARS = 512  # a later version may append fields; more than this is refused
_FORM = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?",
                   re.ASCII | re.DOTALL)
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def check_traceparent(value: str, field: str = TRACEPARENT) -> str:
    """``value`` in its stored form (``00-<trace id>-<parent id>-<flags>``), or
    ``InvalidInput`` naming ``field``."""
    match = _FORM.fullmatch(value) if len(value) <= MAX_TRACEPARENT_CHARS else None
    if match is None:
        raise InvalidInput(field, "must be a W3C traceparent: "
                                  "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>")
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        raise InvalidInput(field, f"traceparent version {version} is not valid in this form")
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        raise InvalidInput(field, "traceparent trace id and parent id must not be all zeros")
    return f"00-{trace_id}-{span_id}-{flags}"


def inherit_traceparent(specs: Sequence[JobSpec], value: str | None,
                        field: str = f"header {TRACEPARENT}") -> list[JobSpec]:
    """The request's ``traceparent`` (REST header, gRPC metadata) given to the jobs that carry
    none of their own; a malformed one refuses the whole request."""
    if value is None:
        return list(specs)
    stored = check_traceparent(value.strip(), field)
    return [s if s.traceparent is not None else msgspec.structs.replace(s, traceparent=stored)
            for s in specs]
