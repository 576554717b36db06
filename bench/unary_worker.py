"""A worker on the simple path: one follow-mode LeaseJobs stream plus one unary AckJob per job
(what a minimal client in any language does). Used by bench/worker_drain.py."""

from __future__ import annotations

import asyncio
import os
import sys

import grpc

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc


async def main(target: str, key: str, queue: str, window: int) -> None:
    metadata = (("x-api-key", key),)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.WorkerServiceStub(channel)
        tasks: set[asyncio.Task[object]] = set()
        request = pb.LeaseRequest(worker_id=f"unary-{os.getpid()}", queue=queue,
                                  max_jobs=window, follow=True)
        async for job in stub.LeaseJobs(request, metadata=metadata):
            ack = stub.AckJob(pb.JobAck(job_id=job.id, lease_id=job.lease_id, success=True),
                              metadata=metadata)
            task = asyncio.ensure_future(ack)
            tasks.add(task)
            task.add_done_callback(tasks.discard)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
