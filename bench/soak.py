"""Chaos soak: 2 ``quorra-server`` replicas (Redis mode) and 8 ``quorra-worker`` processes on a
private PostgreSQL and a private redis-server, REST and gRPC producers at a steady rate, while a
driver keeps breaking things in turn: SIGKILL a worker, SIGKILL a server (restarted), restart
Redis empty, FLUSHALL Redis, restart PostgreSQL. Every run of every job is recorded outside
Quorra (``tests/integration/restarts/handlers.py``), so nothing here trusts Quorra's claims.

    make soak                                   # 10 minutes
    .venv/bin/python bench/soak.py --minutes 2 --rate 60

At the end it prints: jobs accepted, jobs in a final state, jobs lost (must be 0), duplicate
executions with the fault each followed, 5xx other than 503, p99 enqueue latency per phase,
server RSS at start and end; writes ``bench/results/soak.json``; exits 1 if a job was lost.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the private servers and the recording handler live in tests/

from quorra.rpc.proto import quorra_pb2 as pb  # noqa: E402
from quorra.rpc.proto import quorra_pb2_grpc as pb_grpc  # noqa: E402
from tests.integration.private_postgres import PrivatePostgres  # noqa: E402
from tests.integration.redis.private_redis import PrivateRedis  # noqa: E402
from tests.integration.restarts.handlers import RUNS_FILE_ENV  # noqa: E402
from tests.support import free_port, wait_until  # noqa: E402

BIN = Path(sys.executable).parent
API_KEY = "soak-api-key-0123456789"
RESULTS = ROOT / "bench" / "results"
FAULT_EFFECT = 15.0  # s: a latency sample or a duplicate this soon after a fault is its


@dataclass
class Ledger:
    """What the producers and the fault driver saw, shared between threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: dict[str, float] = field(default_factory=dict)  # job id -> time of its 2xx
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (sent at, seconds)
    unavailable: int = 0  # 503 / UNAVAILABLE, or a replica that is down (clients fail over)
    server_errors: list[str] = field(default_factory=list)  # 5xx other than 503, INTERNAL...
    faults: list[tuple[float, str]] = field(default_factory=list)  # (time, name)

    def phase(self, at: float) -> str:
        recent = [name for when, name in self.faults if 0 <= at - when <= FAULT_EFFECT]
        return recent[-1] if recent else "steady"


class Server:
    def __init__(self, index: int, database: str, redis_url: str, logs: Path) -> None:
        self.http, self.grpc = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.http}"
        self.log = logs / f"server-{index}.log"
        self.env = _env(DATABASE_URL=database, REDIS_URL=redis_url, QUORRA_API_KEY=API_KEY,
                        QUORRA_HTTP_ADDR=self.http, QUORRA_GRPC_ADDR=self.grpc,
                        QUORRA_LOG_LEVEL="warn", QUORRA_SHUTDOWN_GRACE="3s")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(BIN / "quorra-server")], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout=60, interval=0.2, what=f"server {self.url}")

    def _ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        return False

    def rss_mib(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


class Worker:
    def __init__(self, index: int, server: Server, runs: Path, logs: Path) -> None:
        self.log = logs / f"worker-{index}.log"
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        self.env = _env(QUORRA_WORKER_ID=f"soak-{index}", QUORRA_GRPC_ADDR=server.grpc,
                        QUORRA_API_KEY=API_KEY, QUORRA_WORKER_MAX_JOBS="8",
                        QUORRA_WORKER_HANDLERS="tests.integration.restarts.handlers",
                        QUORRA_WORKER_LEASE_TTL="10s", PYTHONPATH=path,
                        **{RUNS_FILE_ENV: str(runs)})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(BIN / "quorra-worker")], env=self.env, cwd=ROOT,
                                         stdout=log, stderr=subprocess.STDOUT)


def _env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith("QUORRA_") and k not in ("DATABASE_URL", "REDIS_URL")}
    return keep | extra


def _kill(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            _kill(proc)


# -- producers ---------------------------------------------------------------------------------

def _record(ledger: Ledger, sent: float, took: float, job_id: str | None, error: str) -> None:
    with ledger.lock:
        ledger.latencies.append((sent, took))
        if job_id is not None:
            ledger.accepted[job_id] = time.time()
        elif error == "unavailable":
            ledger.unavailable += 1
        elif error:
            ledger.server_errors.append(error)


def _rest_once(client: httpx.Client, server: Server, n: int) -> tuple[str | None, str]:
    try:
        answer = client.post(f"{server.url}/v1/jobs",
                             json={"type": "count", "payload": {"n": n, "via": "rest"}})
    except httpx.HTTPError:
        return None, "unavailable"  # the replica is down: a client tries the other one
    if answer.status_code == 201:
        return str(answer.json()["id"]), ""
    if answer.status_code == 503:
        return None, "unavailable"
    return None, f"REST {answer.status_code}: {answer.text[:200]}" if (
        answer.status_code >= 500) else f"REST {answer.status_code}"


def _grpc_once(stub: Any, n: int) -> tuple[str | None, str]:
    request = pb.EnqueueJobsRequest(jobs=[pb.JobSpec(type="count", payload=json.dumps(
        {"n": n, "via": "grpc"}).encode())])
    try:
        done = stub.EnqueueJobs(request, metadata=(("x-api-key", API_KEY),), timeout=30)
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return None, "unavailable"
        return None, f"gRPC {exc.code().name}: {exc.details()}"
    return str(done.jobs[0].id), ""


def produce(kind: str, servers: list[Server], ledger: Ledger, rate: float,
            stop: threading.Event) -> None:
    """Enqueue one job at a time at ``rate`` jobs/s, taking turns at the replicas."""
    channels = [grpc.insecure_channel(s.grpc) for s in servers]
    stubs = [pb_grpc.WorkerServiceStub(c) for c in channels]
    with httpx.Client(headers={"X-API-Key": API_KEY}, timeout=30) as client:
        for n in itertools.count():
            if stop.wait(1 / rate):
                break
            turn = n % len(servers)
            sent = time.time()
            job_id, error = (_rest_once(client, servers[turn], n) if kind == "rest"
                             else _grpc_once(stubs[turn], n))
            _record(ledger, sent, time.time() - sent, job_id, error)
    for channel in channels:
        channel.close()


# -- faults ------------------------------------------------------------------------------------

@dataclass
class Cluster:
    postgres: PrivatePostgres
    redis: PrivateRedis
    servers: list[Server]
    workers: list[Worker]


def kill_worker(c: Cluster) -> None:
    worker = random.choice(c.workers)
    _kill(worker.proc)
    worker.start()


def kill_server(c: Cluster) -> None:
    server = random.choice(c.servers)
    _kill(server.proc)
    time.sleep(2)  # the fault's length: the replica stays down this long
    server.start()


def restart_redis_empty(c: Cluster) -> None:
    c.redis.restart("immediate", down=2)


def flush_redis(c: Cluster) -> None:
    with c.redis.client() as client:
        client.flushall()


def restart_postgres(c: Cluster) -> None:
    c.postgres.restart("fast", down=2)


FAULTS: list[Callable[[Cluster], None]] = [kill_worker, kill_server, restart_redis_empty,
                                           flush_redis, restart_postgres]


def drive_faults(cluster: Cluster, ledger: Ledger, every: float, stop: threading.Event) -> None:
    for fault in itertools.cycle(FAULTS):
        if stop.wait(every):
            return
        with ledger.lock:
            ledger.faults.append((time.time(), fault.__name__))
        print(f"{time.strftime('%H:%M:%S')} fault: {fault.__name__}", flush=True)
        fault(cluster)


# -- the report ----------------------------------------------------------------------------------

def read_runs(path: Path) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            at, job_id = line.split(" ")[:2]
            runs.setdefault(job_id, []).append(float(at))
    return runs


def final_states(database: str, ids: list[str]) -> dict[str, int]:
    with psycopg.connect(database, autocommit=True) as conn:
        rows = conn.execute("SELECT status, count(*) FROM quorra_jobs WHERE id = ANY(%s::uuid[])"
                            " GROUP BY status", (ids,)).fetchall()
    return {str(status): int(n) for status, n in rows}


def p99_by_phase(ledger: Ledger) -> dict[str, float]:
    phases: dict[str, list[float]] = {}
    for sent, took in ledger.latencies:
        phases.setdefault(ledger.phase(sent), []).append(took)
    return {name: round(sorted(v)[int(len(v) * 0.99) - 1 if len(v) > 1 else 0] * 1000, 1)
            for name, v in sorted(phases.items())}


def report(ledger: Ledger, runs: dict[str, list[float]], states: dict[str, int],
           rss: dict[str, list[float]], minutes: float) -> dict[str, Any]:
    accepted = set(ledger.accepted)
    duplicates = {job: times for job, times in runs.items() if job in accepted and len(times) > 1}
    after: dict[str, int] = {}
    for times in duplicates.values():
        name = ledger.phase(sorted(times)[1])
        after[name] = after.get(name, 0) + 1
    finals = sum(n for status, n in states.items() if status in ("succeeded", "dead"))
    return {"minutes": minutes, "faults": len(ledger.faults), "accepted": len(accepted),
            "final": finals, "states": states,
            "lost": len(accepted - set(runs)), "duplicates": len(duplicates),
            "duplicates_after": after, "unavailable (503 or replica down)": ledger.unavailable,
            "5xx other than 503": len(ledger.server_errors),
            "errors (first 5)": ledger.server_errors[:5],
            "p99 enqueue ms by phase": p99_by_phase(ledger), "server RSS MiB": rss}


# -- the run -------------------------------------------------------------------------------------

@contextlib.contextmanager
def cluster(logs: Path, runs: Path) -> Iterator[tuple[Cluster, str]]:
    with PrivatePostgres() as postgres:
        redis = PrivateRedis().start()
        database = postgres.create_database("quorra_soak")
        servers = [Server(i, database, redis.url, logs) for i in range(2)]
        workers = [Worker(i, servers[i % 2], runs, logs) for i in range(8)]
        parts: list[Server | Worker] = [*servers, *workers]
        try:
            for part in parts:
                part.start()
            yield Cluster(postgres, redis, servers, workers), database
        finally:
            for part in reversed(parts):
                _stop(part.proc)
            redis.stop()


def soak(args: argparse.Namespace) -> dict[str, Any]:
    logs = Path(tempfile.mkdtemp(prefix="quorra-soak-"))
    runs_path = logs / "runs.txt"
    ledger, stop = Ledger(), threading.Event()
    print(f"logs in {logs}", flush=True)
    with cluster(logs, runs_path) as (c, database):
        rss = {"start": [s.rss_mib() for s in c.servers]}
        threads = [threading.Thread(target=produce, args=(kind, c.servers, ledger,
                                                          args.rate / 3, stop))
                   for kind in ("rest", "rest", "grpc")]
        threads.append(threading.Thread(target=drive_faults,
                                        args=(c, ledger, args.fault_every, stop)))
        for thread in threads:
            thread.start()
        stop.wait(args.minutes * 60)  # the soak's planned length
        stop.set()
        for thread in threads:
            thread.join(120)
        accepted = set(ledger.accepted)
        with contextlib.suppress(AssertionError):
            wait_until(lambda: accepted <= set(read_runs(runs_path)), timeout=args.settle,
                       interval=1, what="every accepted job to run")
        rss["end"] = [s.rss_mib() for s in c.servers]
        states = final_states(database, sorted(accepted))
    return report(ledger, read_runs(runs_path), states, rss, args.minutes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=90.0, help="jobs/s, all producers")
    parser.add_argument("--fault-every", type=float, default=30.0, help="seconds")
    parser.add_argument("--settle", type=float, default=180.0,
                        help="seconds after the load for every accepted job to run")
    result = soak(parser.parse_args())
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2))
    sys.exit(1 if result["lost"] or result["5xx other than 503"] else 0)


if __name__ == "__main__":
    main()
