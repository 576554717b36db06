from __future__ import annotations

from quorra.rpc.proto import quorra_pb2 as pb
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc
from tests.integration.conftest import KEY


async def test_smoke(stub: pb_grpc.WorkerServiceStub) -> None:
    done = await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=[pb.JobSpec(type="t")]), metadata=KEY)
    assert len(done.jobs) == 1
    jobs = [j async for j in stub.LeaseJobs(pb.LeaseRequest(worker_id="w"), metadata=KEY)]
    assert len(jobs) == 1
    r = await stub.AckJob(pb.JobAck(job_id=jobs[0].id, lease_id=jobs[0].lease_id, success=True),
                          metadata=KEY)
    assert r.acknowledged
