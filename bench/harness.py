"""Shared pieces of the benchmarks: real server processes, load generators, outside counts.

Nothing here trusts Quorra's own claims: jobs are counted in PostgreSQL (or by the workers
themselves), rates come from the load generator's clock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
API_KEY = "bench-api-key-0123456789"
DATABASE_URL = os.environ.get("QUORRA_BENCH_DATABASE_URL",
                              "postgresql://postgres@127.0.0.1:5432/quorra_bench")
REDIS_URL = os.environ.get("QUORRA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, deadline: float = 30.0,
              proc: subprocess.Popen[bytes] | None = None) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)  # a start-up poll with a deadline
    raise TimeoutError(f"{url} did not answer within {deadline}s")


def listening(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds a listening TCP socket on ``port``."""
    return _holds(pid, port, state="0A", column=1)


def _holds(pid: int, port: int, *, state: str, column: int) -> bool:
    """A TCP socket of ``pid`` in ``state`` whose local (1) or remote (2) port is ``port``."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == state and int(cols[column].rsplit(":", 1)[1], 16) == port \
                        and cols[9] in inodes:
                    return True
    return False


def wait_listening(proc: subprocess.Popen[bytes], port: int, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        if listening(proc.pid, port):
            return
        time.sleep(0.05)  # a start-up poll with a deadline
    raise TimeoutError(f"process {proc.pid} did not listen on {port} within {deadline}s")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Procs:
    """A group of processes started together (server replicas, a bare app, workers)."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    url: str = ""
    grpc: str = ""

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def rss_kib(self) -> int:
        return sum(rss_kib(pid) for pid in self.pids)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def server_env(port: int, grpc_port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": DATABASE_URL,
        "QUORRA_API_KEY": API_KEY,
        "QUORRA_HTTP_ADDR": f"127.0.0.1:{port}",
        "QUORRA_GRPC_ADDR": f"127.0.0.1:{grpc_port}",
        "QUORRA_LOG_LEVEL": "warn",
        "REDIS_URL": "",
    })
    env.update(extra)
    return env


@contextlib.contextmanager
def quorra_server(*, processes: int = 1, variant: Sequence[str] = (),
                  redis: bool = False, log: Path | None = None, **extra: str) -> Iterator[Procs]:
    """``quorra-server`` replicas against the bench database (several share one port through
    SO_REUSEPORT). ``variant`` flags (``--no-group-commit``, ``--asyncio``) run the same server
    with one switch flipped (bench/variant_server.py). ``log``: append the servers' output
    there instead of the terminal."""
    port, grpc_port = free_port(), free_port()
    if processes > 1:
        extra.setdefault("QUORRA_HTTP_REUSE_PORT", "1")
    if redis:
        extra.setdefault("REDIS_URL", REDIS_URL)
    env = server_env(port, grpc_port, **extra)
    if variant:
        cmd = [sys.executable, str(ROOT / "bench" / "variant_server.py"), *variant]
    else:
        cmd = [str(BIN / "quorra-server")]
    group = Procs(url=f"http://127.0.0.1:{port}", grpc=f"127.0.0.1:{grpc_port}")
    out = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = log.open("ab")
    try:
        for _ in range(processes):
            group.procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out,
                                                stderr=subprocess.STDOUT if out else None))
            wait_listening(group.procs[-1], port)
        wait_http(f"{group.url}/healthz", proc=group.procs[-1])
        yield group
    finally:
        group.stop()
        if out is not None:
            out.close()


@contextlib.contextmanager
def bare_server() -> Iterator[Procs]:
    """The baseline: a bare Litestar handler that validates the same body, no I/O."""
    port = free_port()
    cmd = [sys.executable, str(ROOT / "bench" / "bare_app.py"), str(port)]
    group = Procs(url=f"http://127.0.0.1:{port}")
    try:
        group.procs.append(subprocess.Popen(cmd, cwd=ROOT))
        wait_http(f"{group.url}/healthz", proc=group.procs[0])
        yield group
    finally:
        group.stop()


# --- PostgreSQL, counted from outside --------------------------------------------------------

def server_log() -> Path | None:
    """Where the servers' output goes: ``$QUORRA_BENCH_SERVER_LOG`` if set, else nowhere."""
    path = os.environ.get("QUORRA_BENCH_SERVER_LOG", "")
    return Path(path) if path else None


def services_cpu() -> dict[str, float]:
    """CPU seconds so far of the whole PostgreSQL server, redis-server and the box (busy time
    of all cores): read before and after a drain, they give each one's cost per job."""
    import worker_procs

    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(f) for f in fields) - int(fields[3]) - int(fields[4])  # less idle, iowait
    return {"postgres": worker_procs.cpu_of("postgres"),
            "redis": worker_procs.cpu_of("redis-server"),
            "box": busy / os.sysconf("SC_CLK_TCK")}


def pg() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(DATABASE_URL, autocommit=True)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    _create_database()
    return psycopg.connect(DATABASE_URL, autocommit=True)


def _create_database() -> None:
    """A fresh machine has no bench database yet: create it (the server migrates it)."""
    base, _, name = DATABASE_URL.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def reset_jobs() -> None:
    """Empty the bench database's job table (migrating it first if needed)."""
    with pg() as conn:
        exists = conn.execute("SELECT to_regclass('quorra_jobs')").fetchone()
        if exists and exists[0]:
            conn.execute("TRUNCATE quorra_jobs")
            conn.execute("VACUUM ANALYZE quorra_jobs")
            conn.execute("DELETE FROM quorra_queues")  # a pause or limit a run left behind
        # the previous run's WAL flushed now, not by a checkpoint in the middle of the next run
        conn.execute("CHECKPOINT")


def reset_redis() -> None:
    """Empty the bench's own Redis DB index (``QUORRA_BENCH_REDIS_URL``, DB 9) between runs."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


def redis_memory_kib() -> float:
    """``used_memory`` of the bench's Redis server (the whole server: run nothing else on it)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.info("memory")["used_memory"]) / 1024
    finally:
        client.close()


def count_jobs(status: str | None = None) -> int:
    with pg() as conn:
        if status is None:
            row = conn.execute("SELECT count(*) FROM quorra_jobs").fetchone()
        else:
            row = conn.execute("SELECT count(*) FROM quorra_jobs WHERE status = %s",
                               (status,)).fetchone()
        return int(row[0]) if row else 0


def db_counters() -> dict[str, int]:
    """Transactions committed in the bench database and tuples written to the job table."""
    with pg() as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        xact = conn.execute("SELECT xact_commit FROM pg_stat_database "
                            "WHERE datname = current_database()").fetchone()
        tup = conn.execute("SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) "
                           "FROM pg_stat_user_tables").fetchone()
        return {"xact_commit": int(xact[0]) if xact else 0, "tuples": int(tup[0]) if tup else 0}


def settle_stats(seconds: float = 1.5) -> None:
    """Backends report their statistics at most once a second; after the server stopped
    (its connections closed and flushed), give the collector a moment."""
    time.sleep(seconds)


# --- load generators -------------------------------------------------------------------------

def h2load(url: str, *, requests: int, clients: int, body: Path,
           headers: Sequence[str] = ()) -> dict[str, float]:
    """HTTP/1.1 POSTs of one body from h2load (C, one thread): exact request count."""
    if shutil.which("h2load") is None:
        raise RuntimeError("h2load not found (Debian package nghttp2-client)")
    cmd = ["h2load", "--h1", "-n", str(requests), "-c", str(clients), "-t", "1",
           "-d", str(body), "-H", "content-type: application/json"]
    for header in headers:
        cmd += ["-H", header]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    return parse_h2load(out)


def parse_h2load(out: str) -> dict[str, float]:
    finished = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    status = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    reqs = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                     r"(\d+) failed, (\d+) errored", out)
    latency = re.search(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+"
                        r"([\d.]+)(us|ms|s)", out)
    if not (finished and status and reqs):
        raise RuntimeError(f"cannot parse h2load output:\n{out}")
    scale = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    result = {"seconds": seconds, "req_per_s": float(finished.group(3)),
              "ok": int(status.group(1)), "non_2xx": sum(int(status.group(i)) for i in (2, 3, 4)),
              "failed": int(reqs.group(5)) + int(reqs.group(6))}
    if latency:
        result["mean_ms"] = float(latency.group(5)) * scale[latency.group(6)]
        result["max_ms"] = float(latency.group(3)) * scale[latency.group(4)]
    return result


def job_body(i: int = 0) -> dict[str, Any]:
    return {"type": "bench.noop", "payload": {"n": i, "note": "no-op"}, "queue": "bench"}


def write_body(name: str, obj: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"body-{name}.json"
    path.write_bytes(json.dumps(obj).encode())
    return path


# --- figures ---------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {**data, "machine": machine(), "at": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                              time.gmtime())}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with pg() as conn:
        row = conn.execute("SHOW server_version").fetchone()
        version = row[0] if row else "?"
    return (f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}, "
            f"PostgreSQL {version.split()[0]}, shared with other work")


def log(message: str) -> None:
    print(message, flush=True)


# --- workers and producers (the worker protocol) ---------------------------------------------

@dataclass
class Tally:
    ids: list[str]
    sent: list[float]
    started: list[float]
    created: list[float]

    @property
    def duplicates(self) -> int:
        return len(self.ids) - len(set(self.ids))


@contextlib.contextmanager
def workers(count: int, grpc_addr: str, *, max_jobs: int = 100,
            queue: str = "bench") -> Iterator[tuple[Procs, list[Path]]]:
    """``quorra-worker`` processes running ``bench_tasks``; each writes its tally file on exit
    (after a SIGTERM drain)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    group = Procs()
    tallies = [RESULTS / f"tally-{i}.txt" for i in range(count)]
    for path in tallies:
        path.unlink(missing_ok=True)
    try:
        for i, tally in enumerate(tallies):
            env = dict(os.environ)
            env.update({"QUORRA_GRPC_ADDR": grpc_addr, "QUORRA_API_KEY": API_KEY,
                        "QUORRA_WORKER_ID": f"bench-{i}", "QUORRA_WORKER_QUEUES": queue,
                        "QUORRA_WORKER_MAX_JOBS": str(max_jobs),
                        "QUORRA_BENCH_TALLY": str(tally),
                        "PYTHONPATH": os.pathsep.join(
                            [str(ROOT / "bench"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)})
            group.procs.append(subprocess.Popen(
                [sys.executable, "-m", "quorra.worker.main", "--handlers", "bench_tasks",
                 "--log-level", "warning"], env=env, cwd=RESULTS))
        yield group, tallies
    finally:
        group.stop()


def produce(url: str, rate: float, seconds: float, batch: int = 1000) -> tuple[int, float, float]:
    """Run bench/producer.py against ``url``: ``(jobs sent, start, end)`` on the wall clock."""
    out = json.loads(subprocess.run(
        [sys.executable, str(ROOT / "bench" / "producer.py"), url, str(rate), str(seconds),
         str(batch)], capture_output=True, text=True, check=True, cwd=ROOT / "bench").stdout)
    return int(out["sent"]), float(out["start"]), float(out["end"])


def read_tallies(paths: Sequence[Path]) -> Tally:
    tally = Tally([], [], [], [])
    for path in paths:
        if not path.exists():
            raise RuntimeError(f"{path} missing: a worker did not exit cleanly")
        for line in path.read_text().splitlines():
            job_id, sent, started, created = line.split()
            tally.ids.append(job_id)
            tally.sent.append(float(sent))
            tally.started.append(float(started))
            tally.created.append(float(created))
    return tally


def enqueue_batches(url: str, count: int, *, batch: int = 1000, queue: str = "bench",
                    stamp: bool = False) -> None:
    """Enqueue ``count`` no-op jobs through REST batches (``stamp``: payload ``t`` = send time)."""
    sent = 0
    while sent < count:
        n = min(batch, count - sent)
        now = time.time()
        jobs = [{"type": "bench.noop", "queue": queue,
                 "payload": {"n": sent + i, **({"t": now} if stamp else {})}} for i in range(n)]
        req = urllib.request.Request(f"{url}/v1/jobs/batch", data=json.dumps({"jobs": jobs})
                                     .encode(), method="POST",
                                     headers={"content-type": "application/json",
                                              "x-api-key": API_KEY})
        with urllib.request.urlopen(req, timeout=60) as resp:
            if resp.status != 201:
                raise RuntimeError(f"batch enqueue answered {resp.status}")
        sent += n


def live_jobs() -> int:
    """Jobs not finished yet (pending, blocked or leased), counted on their partial indexes:
    the cost is the count, not the table (a poll of finished rows grows with the run)."""
    with pg() as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM quorra_jobs WHERE status = 'pending')"
            " + (SELECT count(*) FROM quorra_jobs WHERE status = 'leased')"
            " + (SELECT count(*) FROM quorra_jobs WHERE status = 'blocked')").fetchone()
        return int(row[0]) if row else 0


def wait_drained(deadline: float) -> float:
    """Poll PostgreSQL until no job is left to run; returns when that was seen. The pause
    shrinks with what is left (about 5,000 jobs' worth of index entries counted per second
    however large the backlog), so the poll itself costs the database next to nothing."""
    end = time.monotonic() + deadline
    while (left := live_jobs()) > 0:
        if time.monotonic() > end:
            raise TimeoutError(f"{left} jobs still not finished after {deadline}s")
        time.sleep(min(max(left / 5_000, 0.05), 5.0))  # an outside poll with a deadline
    return time.time()


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def connected(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds an established TCP connection to local ``port``."""
    return _holds(pid, port, state="01", column=2)


def wait_workers(procs: Procs, grpc_addr: str, deadline: float = 60.0) -> None:
    """Wait until every worker process holds a connection to the server's gRPC port."""
    port = int(grpc_addr.rsplit(":", 1)[1])
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if all(connected(pid, port) for pid in procs.pids):
            return
        time.sleep(0.1)  # a start-up poll with a deadline
    raise TimeoutError(f"workers did not connect within {deadline}s")
