"""A store restart under load, as an operator meets it: one real ``quorra-server``, one real
``quorra-worker`` whose handler records every run outside Quorra (``handlers.py``), producers
posting single jobs over REST; part-way through, the private PostgreSQL or the private
``redis-server`` is restarted. Everything the run saw is collected in a ``Result``; nothing
here trusts Quorra's own claims except for a job's ``attempts`` (to tell a lease expiry from a
double lease).

Used by ``test_restarts.py`` and ``bench/restart_stall.py``; never touches shared servers.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from tests.integration.private_postgres import PrivatePostgres
from tests.integration.redis.private_redis import PrivateRedis
from tests.integration.restarts.handlers import RUNS_FILE_ENV
from tests.support import free_port, wait_until

__all__ = ["Plan", "Result", "Run", "run_plan"]

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
API_KEY = "restart-scenario-key"
REQUEST_TIMEOUT = 30.0  # a request slower than this is a hang
HANDLERS = "tests.integration.restarts.handlers"
_ERROR = re.compile(r"^(ERROR|CRITICAL)\b|\s(ERROR|CRITICAL)\s|^Traceback")

Dispatch = Literal["redis", "postgres"]
Shutdown = Literal["fast", "immediate"]


@dataclass(frozen=True)
class Plan:
    dispatch: Dispatch  # Redis mode (a private redis-server) or Postgres-only
    restart: Literal["postgres", "redis", "failover"]  # failover: primary crashes, standby
    # promoted after ``down`` seconds (run_plan's ``standby``; DATABASE_URL names both hosts)
    shutdown: Shutdown = "fast"
    producers: int = 4
    rate: float = 200.0  # jobs/s the producers aim at together (0: as fast as they can)
    duration: float = 12.0  # seconds of load
    restart_at: float = 4.0  # seconds into the load
    down: float = 2.0  # seconds the store stays stopped
    settle: float = 30.0  # every 201 job must have run this long after the load ends
    max_jobs: int = 5  # QUORRA_WORKER_MAX_JOBS

    @property
    def name(self) -> str:
        return f"{self.restart}-{self.shutdown}-in-{self.dispatch}-mode"


@dataclass(frozen=True)
class Run:
    at: float  # wall time the handler started
    job_id: str
    attempt: int
    lease_id: str


@dataclass
class Result:
    plan: Plan
    created: dict[str, float] = field(default_factory=dict)  # job id → when its 201 came
    unavailable: list[float] = field(default_factory=list)  # when each 503 came
    errors: list[str] = field(default_factory=list)  # any other answer, a hang, a bad 503
    slowest: float = 0.0  # the slowest enqueue request (s)
    runs: list[Run] = field(default_factory=list)
    restart_began: float = 0.0
    restart_ended: float = 0.0  # the store accepts connections again
    load_ended: float = 0.0
    drained_at: float | None = None  # every 201 job had run (None: some never did)
    attempts: dict[str, int] = field(default_factory=dict)  # jobs run twice: attempts (REST)
    quorra_restarted: list[str] = field(default_factory=list)  # processes that exited
    healthy_after: bool = False  # /healthz and /readyz answer 200 at the end
    pending_after: int = 0  # jobs still pending at the end (REST /v1/queues)
    server_errors: list[str] = field(default_factory=list)  # ERROR lines in the server log

    @property
    def executed(self) -> set[str]:
        return {run.job_id for run in self.runs} & set(self.created)

    @property
    def missing(self) -> set[str]:
        return set(self.created) - self.executed

    @property
    def duplicates(self) -> dict[str, int]:
        seen: dict[str, int] = {}
        for run in self.runs:
            seen[run.job_id] = seen.get(run.job_id, 0) + 1
        return {job: n for job, n in seen.items() if n > 1}

    @property
    def unexplained_duplicates(self) -> list[str]:
        """Jobs run more than once although no lease of theirs expired (attempts ≤ 1)."""
        return sorted(job for job in self.duplicates if self.attempts.get(job, 0) <= 1)

    @property
    def window_503(self) -> tuple[float, float] | None:
        """First and last 503, in seconds from the restart's beginning."""
        if not self.unavailable:
            return None
        return (min(self.unavailable) - self.restart_began,
                max(self.unavailable) - self.restart_began)

    @property
    def enqueue_gap(self) -> float:
        """The longest time without a 201 around the restart."""
        return _longest_gap(self.created.values(), self.restart_began - 1, self.load_ended)

    @property
    def dispatch_gap(self) -> float:
        """The longest time without a job starting around the restart."""
        return _longest_gap([run.at for run in self.runs], self.restart_began - 1,
                            self.load_ended)

    @property
    def resumed(self) -> float | None:
        """Seconds from the restart's end (the store accepting again) to the first job run."""
        after = [run.at for run in self.runs if run.at >= self.restart_ended]
        return min(after) - self.restart_ended if after else None

    @property
    def accepted_after(self) -> int:
        """201s that came after the restart's end."""
        return sum(1 for at in self.created.values() if at > self.restart_ended)

    def row(self) -> dict[str, Any]:
        window = self.window_503
        return {
            "scenario": self.plan.name, "201s": len(self.created),
            "503s": len(self.unavailable), "other errors": len(self.errors),
            "executed": len(self.executed), "stuck pending": self.pending_after,
            "never ran": len(self.missing), "run twice": len(self.duplicates),
            "twice without lease expiry": len(self.unexplained_duplicates),
            "restart (s)": round(self.restart_ended - self.restart_began, 2),
            "503 window (s)": None if window is None else [round(t, 2) for t in window],
            "longest without a 201 (s)": round(self.enqueue_gap, 2),
            "longest without a run (s)": round(self.dispatch_gap, 2),
            "first run after restart (s)": (None if self.resumed is None
                                            else round(self.resumed, 2)),
            "slowest enqueue (s)": round(self.slowest, 2),
            "quorra restarted": self.quorra_restarted,
        }


def _longest_gap(times: Any, start: float, end: float) -> float:
    points = sorted(t for t in times if start <= t <= end)
    marks = [start, *points, end]
    return max((b - a for a, b in itertools.pairwise(marks)), default=0.0)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("QUORRA_") and k not in ("DATABASE_URL", "REDIS_URL")}
    return env | extra


class _Processes:
    """The quorra-server and quorra-worker under test."""

    def __init__(self, plan: Plan, database_url: str, redis_url: str, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.http = f"127.0.0.1:{free_port()}"
        self.grpc = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.http}"
        self.runs_file = workdir / "runs.txt"
        self.server_log = workdir / "server.log"
        self.worker_log = workdir / "worker.log"
        self.server_env = _env(DATABASE_URL=database_url, QUORRA_API_KEY=API_KEY,
                               QUORRA_HTTP_ADDR=self.http, QUORRA_GRPC_ADDR=self.grpc,
                               QUORRA_LOG_LEVEL="warn", QUORRA_SHUTDOWN_GRACE="3s",
                               **({"REDIS_URL": redis_url} if redis_url else {}))
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        self.worker_env = _env(QUORRA_WORKER_ID="restart-worker", QUORRA_GRPC_ADDR=self.grpc,
                               QUORRA_API_KEY=API_KEY, QUORRA_WORKER_HANDLERS=HANDLERS,
                               QUORRA_WORKER_MAX_JOBS=str(plan.max_jobs),
                               QUORRA_SHUTDOWN_GRACE="3s", PYTHONPATH=path,
                               **{RUNS_FILE_ENV: str(self.runs_file)})
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.server_log.open("ab") as log:
            self.server = subprocess.Popen([str(BIN / "quorra-server")], env=self.server_env,
                                           stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout=60, interval=0.1, what="quorra-server to be ready")
        with self.worker_log.open("ab") as log:
            self.worker = subprocess.Popen([str(BIN / "quorra-worker")], env=self.worker_env,
                                           stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    def _ready(self) -> bool:
        assert self.server is not None
        if self.server.poll() is not None:
            raise AssertionError(f"quorra-server exited:\n{self.server_log.read_text()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": API_KEY}, timeout=timeout)

    def exited(self) -> list[str]:
        return [name for name, proc in (("quorra-server", self.server),
                                        ("quorra-worker", self.worker))
                if proc is None or proc.poll() is not None]

    def stop(self) -> None:
        for proc in (self.worker, self.server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


class _RunsFile:
    """Reads the handler's run records as they are appended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.runs: list[Run] = []
        self.ids: set[str] = set()

    def poll(self) -> list[Run]:
        if not self.path.exists():
            return self.runs
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode().splitlines():
            at, job_id, attempt, lease_id = line.split(" ")
            self.runs.append(Run(float(at), job_id, int(attempt), lease_id))
            self.ids.add(job_id)
        return self.runs


def _produce(procs: _Processes, plan: Plan, index: int, stop_at: float, result: Result,
             lock: threading.Lock) -> None:
    interval = plan.producers / plan.rate if plan.rate > 0 else 0.0
    next_at = time.monotonic()
    n = 0
    with procs.client(timeout=REQUEST_TIMEOUT) as client:
        while (now := time.monotonic()) < stop_at:
            if next_at > now:
                time.sleep(next_at - now)  # pacing to the planned rate
            next_at = max(next_at + interval, time.monotonic() - interval)
            n += 1
            began = time.monotonic()
            try:
                answer = client.post("/v1/jobs", json={"type": "count",
                                                       "payload": {"producer": index, "n": n}})
            except httpx.HTTPError as exc:
                with lock:
                    result.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            took, at = time.monotonic() - began, time.time()
            with lock:
                result.slowest = max(result.slowest, took)
                if answer.status_code == 201:
                    result.created[answer.json()["id"]] = at
                elif answer.status_code == 503 and _json_error(answer):
                    result.unavailable.append(at)
                else:
                    result.errors.append(f"{answer.status_code}: {answer.text[:200]}")
            if answer.status_code == 503:
                time.sleep(0.05)  # a polite producer backs off a little before the next job


def _json_error(answer: httpx.Response) -> bool:
    try:
        body = answer.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), str)


def _restart(plan: Plan, postgres: PrivatePostgres, redis: PrivateRedis | None,
             standby: PrivatePostgres | None) -> None:
    if plan.restart == "postgres":
        postgres.restart(plan.shutdown, down=plan.down)
    elif plan.restart == "failover":
        assert standby is not None, "a failover needs a standby"
        postgres.stop(plan.shutdown)
        time.sleep(plan.down)  # the planned detection time before the promotion
        standby.promote()
    else:
        assert redis is not None, "a Redis restart needs Redis mode"
        redis.restart(plan.shutdown, down=plan.down)


def _warm_up(procs: _Processes, runs: _RunsFile) -> None:
    """One job through the whole path: the worker is connected and leasing."""
    with procs.client() as client:
        answer = client.post("/v1/jobs", json={"type": "count", "payload": {"warm-up": True}})
        assert answer.status_code == 201, answer.text
        job_id = answer.json()["id"]
    wait_until(lambda: job_id in {r.job_id for r in runs.poll()}, timeout=60, interval=0.1,
               what="the warm-up job to run")


def _database_url(postgres: PrivatePostgres, standby: PrivatePostgres | None) -> str:
    """A fresh database; with a standby, a multi-host URL that connects to whichever host
    accepts writes (libpq's ``target_session_attrs``)."""
    name = f"quorra_{uuid.uuid4().hex[:10]}"
    url = postgres.create_database(name)
    if standby is None:
        return url
    return (f"postgresql://{postgres.user}@127.0.0.1:{postgres.port},127.0.0.1:{standby.port}"
            f"/{name}?target_session_attrs=read-write")


@contextlib.contextmanager
def _stores(plan: Plan, postgres: PrivatePostgres, standby: PrivatePostgres | None
            ) -> Iterator[tuple[str, PrivateRedis | None]]:
    database = _database_url(postgres, standby)
    redis = PrivateRedis().start() if plan.dispatch == "redis" else None
    try:
        yield database, redis
    finally:
        if redis is not None:
            redis.stop()


def run_plan(plan: Plan, postgres: PrivatePostgres, workdir: Path,
             standby: PrivatePostgres | None = None) -> Result:
    """Run ``plan`` against the private ``postgres`` (a fresh database in it; with a
    ``standby`` of it, through a multi-host URL) and, in Redis mode, a private redis-server of
    its own; ``workdir`` keeps the logs and the run records."""
    workdir.mkdir(parents=True, exist_ok=True)
    result = Result(plan)
    with _stores(plan, postgres, standby) as (database, redis):
        procs = _Processes(plan, database, redis.url if redis else "", workdir)
        runs = _RunsFile(procs.runs_file)
        try:
            procs.start()
            _warm_up(procs, runs)
            warm = set(runs.ids)
            lock = threading.Lock()
            began = time.monotonic()
            stop_at = began + plan.duration
            producers = [threading.Thread(target=_produce, name=f"producer-{i}",
                                          args=(procs, plan, i, stop_at, result, lock))
                         for i in range(plan.producers)]
            for thread in producers:
                thread.start()
            time.sleep(max(began + plan.restart_at - time.monotonic(), 0))  # the planned time
            result.restart_began = time.time()
            _restart(plan, postgres, redis, standby)
            result.restart_ended = time.time()
            for thread in producers:
                thread.join(plan.duration + REQUEST_TIMEOUT + 10)
            result.load_ended = time.time()
            with lock:
                created = set(result.created)

            def drained() -> bool:
                runs.poll()
                return created <= runs.ids

            with contextlib.suppress(AssertionError):
                wait_until(drained, timeout=plan.settle, interval=0.2, what="every 201 to run")
                result.drained_at = time.time()
            result.runs = [run for run in runs.poll() if run.job_id not in warm]
            _inspect(procs, result)
        finally:
            procs.stop()
    return result


def _inspect(procs: _Processes, result: Result) -> None:
    result.quorra_restarted = procs.exited()
    with procs.client() as client:
        for job_id in result.duplicates:
            result.attempts[job_id] = int(client.get(f"/v1/jobs/{job_id}").json()["attempts"])
        queues = client.get("/v1/queues").json()["queues"]
        result.pending_after = sum(q["count"] for q in queues if q["status"] == "pending")
        result.healthy_after = all(client.get(probe).status_code == 200
                                   for probe in ("/healthz", "/readyz"))
    result.server_errors = [line for line in procs.server_log.read_text().splitlines()
                            if _ERROR.search(line)]
