"""gRPC batch enqueue (``WorkerService.EnqueueJobs``): 20,000 no-op jobs in batches of 100 and
1,000 from a grpc.aio client process with several calls in flight, in Postgres-only and in
Redis mode. Rows are counted in PostgreSQL and must equal the jobs acknowledged.

    python bench/grpc_enqueue.py [--rounds 3] [--jobs 20000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

import harness as h


async def _client(target: str, jobs: int, batch: int, concurrency: int) -> dict[str, float]:
    import grpc

    from quorra.rpc.proto import quorra_pb2 as pb
    from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc

    request = pb.EnqueueJobsRequest(jobs=[
        pb.JobSpec(type="bench.noop", queue="bench", payload=json.dumps({"n": i}).encode())
        for i in range(batch)])
    calls = jobs // batch
    done = 0
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.WorkerServiceStub(channel)
        metadata = (("x-api-key", h.API_KEY),)
        await stub.EnqueueJobs(request, metadata=metadata)  # warm-up, counted below
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(calls - 1):
            queue.put_nowait(i)

        async def run() -> None:
            nonlocal done
            while not queue.empty():
                queue.get_nowait()
                reply = await stub.EnqueueJobs(request, metadata=metadata)
                done += len(reply.jobs)

        start = time.perf_counter()
        await asyncio.gather(*(run() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return {"jobs_per_s": done / seconds, "acked": done + batch}


def client_main() -> None:
    target, jobs, batch, concurrency = sys.argv[2], *map(int, sys.argv[3:6])
    print(json.dumps(asyncio.run(_client(target, jobs, batch, concurrency))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {}
    for round_no in range(1, args.rounds + 1):
        for redis, batch in ((False, 100), (False, 1000), (True, 100), (True, 1000)):
            h.reset_jobs()
            if redis:
                h.reset_redis()
            with h.quorra_server(redis=redis) as srv:
                cpu0 = srv.cpu_seconds()
                out = subprocess.run([sys.executable, __file__, "--client", srv.grpc,
                                      str(args.jobs), str(batch), str(args.concurrency)],
                                     capture_output=True, text=True, check=True,
                                     cwd=h.ROOT / "bench").stdout
                cpu1 = srv.cpu_seconds()
            result = json.loads(out)
            rows = h.count_jobs()
            if rows != result["acked"]:
                raise SystemExit(f"gRPC enqueue: {rows} rows for {result['acked']} acked jobs")
            result["server_cpu_us_per_job"] = 1e6 * (cpu1 - cpu0) / rows
            name = f"{'redis_' if redis else ''}grpc_batch{batch}"
            runs.setdefault(name, []).append(result)
            h.log(f"round {round_no} {name}: {result['jobs_per_s']:.0f} jobs/s, server CPU "
                  f"{result['server_cpu_us_per_job']:.0f} us/job")
    summary = {name: {k: h.median([r[k] for r in rs]) for k in rs[0]} for name, rs in runs.items()}
    h.log(f"\ngRPC batch enqueue, medians of {args.rounds} rounds ({args.jobs} jobs, "
          f"{args.concurrency} calls in flight):")
    for name, s in summary.items():
        h.log(f"  {name:22} {s['jobs_per_s']:8.0f} jobs/s  server CPU "
              f"{s['server_cpu_us_per_job']:.0f} us/job")
    h.save("grpc_enqueue", {"rounds": args.rounds, "jobs": args.jobs,
                            "concurrency": args.concurrency, "summary": summary, "runs": runs})


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main()
    else:
        main()
