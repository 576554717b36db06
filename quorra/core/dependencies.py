"""Job dependencies, the pure part: the order a batch's jobs must be stored in (parents
first), cycles refused, and the priority each job inherits from the jobs that await it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from quorra.core.errors import InvalidInput
from quorra.core.jobs import MAX_DEPENDENCIES, JobSpec

__all__ = ["check_parents", "inherited_priorities", "parents_first"]


def check_parents(job_id: uuid.UUID | None, parents: Sequence[uuid.UUID], field: str) -> None:
    """One job's ``depends_on``: at most ``MAX_DEPENDENCIES``, no repeats, not itself."""
    if len(parents) > MAX_DEPENDENCIES:
        raise InvalidInput(field, f"{len(parents)} parents is over the limit of "
                                  f"{MAX_DEPENDENCIES}")
    if len(set(parents)) != len(parents):
        raise InvalidInput(field, "lists a job more than once")
    if job_id is not None and job_id in parents:
        raise InvalidInput(field, "a job cannot depend on itself")


def parents_first(specs: Sequence[JobSpec], fields: Sequence[str] | None = None
                  ) -> list[JobSpec]:
    """The batch's distinct jobs (an id given twice is its first place), each after the jobs of
    the batch it depends on; a cycle is ``InvalidInput`` naming the ``depends_on`` of a job on
    it (``fields[i]`` is spec i's field prefix, e.g. ``jobs[3]``)."""
    first: dict[uuid.UUID, int] = {}
    for index, spec in enumerate(specs):
        first.setdefault(spec.id, index)
    waiting = {i: sum(1 for p in specs[i].depends_on if p in first) for i in first.values()}
    children: dict[uuid.UUID, list[int]] = {}
    for i in first.values():
        for parent in specs[i].depends_on:
            if parent in first:
                children.setdefault(parent, []).append(i)
    ready = [i for i, n in waiting.items() if n == 0]
    order: list[JobSpec] = []
    while ready:  # bounded: each index enters ready once
        i = ready.pop()
        order.append(specs[i])
        for child in children.get(specs[i].id, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) < len(first):
        stuck = min(i for i, n in waiting.items() if n > 0)
        prefix = f"{fields[stuck]}." if fields and fields[stuck] else ""
        raise InvalidInput(f"{prefix}depends_on", "the batch's dependencies form a cycle")
    return order


def inherited_priorities(order: Sequence[JobSpec]) -> dict[uuid.UUID, int]:
    """Each job's effective priority (``order`` from ``parents_first``): its own, raised to that
    of every job of the batch that awaits it, directly or not. Parents outside the batch are
    keyed too, with the priority they must be raised to (their other awaiting jobs aside)."""
    effective = {spec.id: spec.priority for spec in order}
    outside: dict[uuid.UUID, int] = {}
    for spec in reversed(order):  # children before their parents
        mine = effective[spec.id]
        for parent in spec.depends_on:
            if parent in effective:
                effective[parent] = max(effective[parent], mine)
            else:
                outside[parent] = max(outside.get(parent, mine), mine)
    return {**outside, **effective}
