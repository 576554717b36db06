"""Cutting a stream of jobs into messages: at most ``batch_size`` jobs and ``MAX_MESSAGE_BYTES``
of payload each, with each job's place in the stream kept for ids and error fields."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

from quorra.client.types import NewJob, to_pb
from quorra.rpc.proto import quorra_pb2 as pb

__all__ = ["MAX_MESSAGE_BYTES", "Chunk", "chunks", "new_job"]

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclasses.dataclass(slots=True)
class Chunk:
    index: int  # the message's place in the stream
    offset: int  # the place of its first job
    specs: list[pb.JobSpec]


def new_job(job: NewJob | Mapping[str, Any], field: str) -> NewJob:
    return job if isinstance(job, NewJob) else NewJob.from_mapping(job, field)


async def _each(jobs: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(jobs, AsyncIterable):
        async for job in jobs:
            yield job
    else:
        for job in jobs:
            yield job


async def chunks(jobs: Iterable[NewJob | Mapping[str, Any]]
                 | AsyncIterable[NewJob | Mapping[str, Any]],
                 batch_size: int) -> AsyncIterator[Chunk]:
    current = Chunk(0, 0, [])
    size = 0
    position = 0
    async for job in _each(jobs):
        field = f"jobs[{position}]"
        spec = to_pb(new_job(job, field), field)
        if current.specs and (len(current.specs) >= batch_size
                              or size + len(spec.payload) > MAX_MESSAGE_BYTES):
            yield current
            current, size = Chunk(current.index + 1, position, []), 0
        current.specs.append(spec)
        size += len(spec.payload)
        position += 1
    if current.specs:
        yield current
