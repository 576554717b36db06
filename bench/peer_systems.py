"""The systems of the peer comparison (``bench/peers_bench.py``): Quorra in both dispatch modes
and the other Python job queues, each with the worker shape its own documentation and defaults
give on a 2-core box, all running the bodies of ``bench/job_bodies.py``.

Each system: ``reset()`` its queue (only its own keys / tables), ``running()`` (Quorra: a
``quorra-server`` for the drain), ``prefill(body, n)`` with workers stopped, ``workers(body)``
(2 job-executing processes), ``enqueue_latency(sent)`` for the latency probe.

Isolation: every system has its own Redis DB index and its own PostgreSQL database; resets delete
only the library's own key prefix (``QUORRA_PEERS_REDIS`` names the Redis server).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import harness as h
import psycopg
import redis

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
REDIS = os.environ.get("QUORRA_PEERS_REDIS", "redis://127.0.0.1:6379").rstrip("/")
PG = os.environ.get("QUORRA_PEERS_PG", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
# Redis DB index per system; 6 holds the bodies' counter (job_bodies.COUNTER_URL)
DB_COUNTER, DB_QUORRA, DB_HUEY, DB_DRAMATIQ, DB_CELERY, DB_STREAQ = 6, 5, 4, 3, 2, 1
PG_QUORRA = f"{PG}/quorra_bench_peers"
PG_PGQUEUER = f"{PG}/quorra_bench_peers_pgqueuer"
DATABASES = (PG_QUORRA, PG_PGQUEUER)

ROWS = ("sync_incr", "async_incr", "async_sleep", "sync_cpu", "empty")
IO_BODIES = {"sync_incr": "sync_incr", "async_incr": "async_incr", "async_sleep": "async_sleep",
             "sync_cpu": "sync_cpu"}
SYNC_BODIES = {"sync_incr": "sync_incr", "sync_cpu": "sync_cpu"}
IO_SLOTS = 32  # Quorra's in-flight jobs per worker process for the one-round-trip bodies
EMPTY_SLOTS = 500  # the empty handler (floor): the setting of `make bench`'s drain figures
SLEEP_SLOTS = 1000  # in-flight jobs per process for the asyncio.sleep body (async systems)


def redis_url(db: int) -> str:
    return f"{REDIS}/{db}"


def delete_keys(url: str, *patterns: str) -> None:
    """Delete this system's keys (SCAN + UNLINK), never a whole DB."""
    with redis.Redis.from_url(url) as client:
        for pattern in patterns:
            batch = []
            for key in client.scan_iter(match=pattern, count=2000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.unlink(*batch)
                    batch = []
            if batch:
                client.unlink(*batch)


async def open_loop(n: int, rate: float, send: Any) -> int:
    """Open-loop arrivals for asyncio producers: each ``await send(sent_time)`` is its own task
    started on its tick, so one slow enqueue (a durable commit) does not lower the offered
    rate. Bounded: ``n`` tasks, awaited with a timeout."""
    t0 = time.perf_counter()
    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(send(time.time())))
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    return n


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORRA_")}
    env["PYTHONPATH"] = str(BENCH)
    env["QUORRA_PEERS_COUNTER_URL"] = redis_url(DB_COUNTER)
    return env


Worker = tuple[list[str], dict[str, str]]


class System:
    key = "?"
    label = "?"
    packages: tuple[str, ...] = ()
    stop_signal = signal.SIGTERM
    # table row -> body run by this system (a row missing here: the library cannot run it)
    bodies: ClassVar[dict[str, str]] = {}

    def reset(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def running(self, log: Path) -> Iterator[None]:
        yield

    def prefill(self, body: str, n: int) -> None:
        raise NotImplementedError

    def enqueue_latency(self, sent: float) -> None:
        raise NotImplementedError

    def enqueue_paced(self, n: int, rate: float) -> int:
        """``n`` latency jobs, one call each, on a fixed schedule of ``rate`` per second; each
        carries its send time."""
        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.enqueue_latency(time.time())
        return n

    def workers(self, body: str) -> list[Worker]:
        raise NotImplementedError

    def shape(self, body: str) -> str:
        raise NotImplementedError

    def server_cpu(self) -> float:
        """CPU seconds of the system's own server processes (Quorra), 0 for the others."""
        return 0.0

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def versions(self) -> dict[str, str]:
        out = {}
        for name in self.packages:
            with contextlib.suppress(metadata.PackageNotFoundError):
                out[name] = metadata.version(name)
        return out


# --- Quorra ----------------------------------------------------------------------------------

class Quorra(System):
    packages = ("quorra", "grpcio", "redis")
    bodies: ClassVar[dict[str, str]] = {**IO_BODIES, "empty": "empty_async"}

    def __init__(self, redis_mode: bool, leases: str = "grant") -> None:
        self.redis_mode = redis_mode
        self.leases = leases  # QUORRA_REDIS_LEASES in Redis mode: grant or stream
        stream = redis_mode and leases == "stream"
        self.key = "quorra-stream" if stream else "quorra-redis" if redis_mode else "quorra-pg"
        self.label = ("Quorra Redis stream" if stream else "Quorra Redis" if redis_mode
                      else "Quorra PG-only")
        self.server: h.Procs | None = None

    def reset(self) -> None:
        with psycopg.connect(PG_QUORRA, autocommit=True) as conn:
            exists = conn.execute("SELECT to_regclass('quorra_jobs')").fetchone()
            if exists and exists[0]:
                conn.execute("TRUNCATE quorra_jobs")
        delete_keys(redis_url(DB_QUORRA), "quorra:*")

    @contextlib.contextmanager
    def running(self, log: Path) -> Iterator[None]:
        with h.quorra_server(DATABASE_URL=PG_QUORRA,
                             REDIS_URL=redis_url(DB_QUORRA) if self.redis_mode else "",
                             QUORRA_REDIS_LEASES=self.leases,
                             QUORRA_SHUTDOWN_GRACE="5s", log=log) as server:
            self.server = server
            try:
                yield
            finally:
                self.server = None

    def _client(self) -> Any:
        import quorra

        assert self.server is not None
        return quorra.Client(self.server.grpc, api_key=h.API_KEY)

    def prefill(self, body: str, n: int) -> None:
        with self._client() as client:
            for start in range(0, n, 1000):
                client.enqueue_many({"type": body} for _ in range(min(1000, n - start)))

    def enqueue_paced(self, n: int, rate: float) -> int:
        import quorra

        assert self.server is not None
        target = self.server.grpc

        async def paced() -> int:
            async with quorra.AsyncClient(target, api_key=h.API_KEY) as client:
                return await open_loop(n, rate, lambda t: client.enqueue("latency", {"t": t}))

        return asyncio.run(paced())

    def slots(self, body: str) -> int:
        return {"async_sleep": SLEEP_SLOTS, "empty_async": EMPTY_SLOTS}.get(body, IO_SLOTS)

    def workers(self, body: str) -> list[Worker]:
        assert self.server is not None
        out = []
        for i in range(2):
            env = base_env()
            env.update(QUORRA_GRPC_ADDR=self.server.grpc, QUORRA_API_KEY=h.API_KEY,
                       QUORRA_WORKER_ID=f"peers-{i}", QUORRA_WORKER_MAX_JOBS=str(self.slots(body)))
            out.append(([str(BIN / "quorra-worker"), "--handlers", "peer_apps.quorra_app",
                         "--log-level", "warning"], env))
        return out

    def shape(self, body: str) -> str:
        mode = (f"REDIS_URL set, QUORRA_REDIS_LEASES={self.leases}" if self.redis_mode
                else "no REDIS_URL")
        return (f"1 quorra-server ({mode}) + 2 x `quorra-worker`, "
                f"QUORRA_WORKER_MAX_JOBS={self.slots(body)}")

    def server_cpu(self) -> float:
        return self.server.cpu_seconds() if self.server is not None else 0.0


# --- Huey ------------------------------------------------------------------------------------

class Huey(System):
    key, label = "huey", "Huey"
    packages = ("huey",)
    stop_signal = signal.SIGINT  # huey_consumer's graceful shutdown
    bodies: ClassVar[dict[str, str]] = {**SYNC_BODIES, "empty": "empty_sync"}
    url = redis_url(DB_HUEY)

    def _app(self) -> Any:
        os.environ["QUORRA_PEERS_BROKER_URL"] = self.url
        from peer_apps import huey_app

        return huey_app

    def reset(self) -> None:
        delete_keys(self.url, "huey.*")

    def prefill(self, body: str, n: int) -> None:
        task = getattr(self._app(), body)
        for _ in range(n):
            task()

    def enqueue_latency(self, sent: float) -> None:
        self._app().latency(sent)

    def workers(self, body: str) -> list[Worker]:
        env = base_env() | {"QUORRA_PEERS_BROKER_URL": self.url}
        return [([str(BIN / "huey_consumer"), "peer_apps.huey_app.huey", "-k", "thread", "-w", "8",
                  "-q", "-n"], env) for _ in range(2)]

    def shape(self, body: str) -> str:
        return "2 x `huey_consumer -k thread -w 8` (RedisHuey, blocking BRPOP)"


# --- Dramatiq --------------------------------------------------------------------------------

class Dramatiq(System):
    key, label = "dramatiq", "Dramatiq"
    packages = ("dramatiq",)
    bodies: ClassVar[dict[str, str]] = {**IO_BODIES, "empty": "empty_sync"}
    url = redis_url(DB_DRAMATIQ)

    def _app(self) -> Any:
        os.environ["QUORRA_PEERS_BROKER_URL"] = self.url
        from peer_apps import dramatiq_app

        return dramatiq_app

    def reset(self) -> None:
        delete_keys(self.url, "dramatiq:*")

    def prefill(self, body: str, n: int) -> None:
        actor = getattr(self._app(), body)
        for _ in range(n):
            actor.send()

    def enqueue_latency(self, sent: float) -> None:
        self._app().latency.send(sent)

    def workers(self, body: str) -> list[Worker]:
        env = base_env() | {"QUORRA_PEERS_BROKER_URL": self.url}
        return [([str(BIN / "dramatiq"), "peer_apps.dramatiq_app", "--processes", "2",
                  "--threads", "8"], env)]

    def shape(self, body: str) -> str:
        extra = " (async def actors: AsyncIO middleware, one event loop thread per process)" \
            if body.startswith("async") else ""
        return f"`dramatiq --processes 2 --threads 8` (the CLI defaults on 2 cores){extra}"


# --- Celery ----------------------------------------------------------------------------------

class Celery(System):
    key, label = "celery", "Celery"
    packages = ("celery", "kombu")
    bodies: ClassVar[dict[str, str]] = {**SYNC_BODIES, "empty": "empty_sync"}
    url = redis_url(DB_CELERY)

    def _app(self) -> Any:
        os.environ["QUORRA_PEERS_BROKER_URL"] = self.url
        from peer_apps import celery_app

        return celery_app

    def reset(self) -> None:
        delete_keys(self.url, "qpeers*", "unacked*", "_kombu.binding*")

    def prefill(self, body: str, n: int) -> None:
        from celery import group

        task = getattr(self._app(), body)
        for start in range(0, n, 1000):
            group(task.s() for _ in range(min(1000, n - start))).apply_async()

    def enqueue_latency(self, sent: float) -> None:
        self._app().latency.delay(sent)

    def workers(self, body: str) -> list[Worker]:
        env = base_env() | {"QUORRA_PEERS_BROKER_URL": self.url}
        return [([str(BIN / "celery"), "-A", "peer_apps.celery_app", "worker", "-l", "WARNING",
                  "--pool=prefork", "-c", "2", "--without-gossip", "--without-mingle",
                  "--without-heartbeat", "-n", "qpeers@%h"], env)]

    def shape(self, body: str) -> str:
        return "`celery worker --pool=prefork -c 2` (the default on 2 cores: 1 parent + 2 forks)"


# --- PgQueuer --------------------------------------------------------------------------------

class PgQueuer(System):
    key, label = "pgqueuer", "PgQueuer"
    packages = ("pgqueuer", "asyncpg")
    bodies: ClassVar[dict[str, str]] = {**IO_BODIES, "empty": "empty_async"}

    def _limits(self, body: str) -> tuple[int, int]:
        """(--batch-size, --max-concurrent-tasks): 10 in flight per process like the other
        asyncio peers; 1,000 for the sleep body (the batch must stay at most half the cap)."""
        return (100, SLEEP_SLOTS) if body == "async_sleep" else (5, 10)

    async def _queries(self) -> Any:
        import asyncpg
        from pgqueuer.db import AsyncpgDriver
        from pgqueuer.queries import Queries

        conn = await asyncpg.connect(PG_PGQUEUER)
        return conn, Queries(AsyncpgDriver(conn))

    def setup(self) -> None:
        async def install() -> None:
            conn, queries = await self._queries()
            try:
                if not await queries.schema_is_installed():
                    await queries.install()  # what `pgq install` runs
            finally:
                await conn.close()

        asyncio.run(install())

    def reset(self) -> None:
        from pgqueuer.domain.settings import db_settings

        settings = db_settings()
        tables = [settings.qualify(t) for t in (settings.queue_table, settings.queue_table_log,
                                                settings.statistics_table)]
        with psycopg.connect(PG_PGQUEUER, autocommit=True) as conn, \
                contextlib.suppress(psycopg.errors.UndefinedTable):
            conn.execute("TRUNCATE " + ", ".join(tables))

    def prefill(self, body: str, n: int) -> None:
        async def fill() -> None:
            conn, queries = await self._queries()
            try:
                for start in range(0, n, 1000):
                    k = min(1000, n - start)
                    await queries.enqueue([body] * k, [None] * k, [0] * k)
            finally:
                await conn.close()

        asyncio.run(fill())

    def enqueue_paced(self, n: int, rate: float) -> int:
        import asyncpg
        from pgqueuer.db import AsyncpgPoolDriver
        from pgqueuer.queries import Queries

        async def paced() -> int:
            async with asyncpg.create_pool(PG_PGQUEUER, min_size=2, max_size=8) as pool:
                queries = Queries(AsyncpgPoolDriver(pool))
                return await open_loop(
                    n, rate, lambda t: queries.enqueue("latency", repr(t).encode()))

        return asyncio.run(paced())

    def workers(self, body: str) -> list[Worker]:
        batch, cap = self._limits(body)
        env = base_env() | {"QUORRA_PEERS_BROKER_URL": PG_PGQUEUER}
        return [([str(BIN / "pgq"), "run", "peer_apps.pgqueuer_app:create_pgqueuer",
                  "--batch-size", str(batch), "--max-concurrent-tasks", str(cap),
                  "--log-level", "WARNING"], env) for _ in range(2)]

    def shape(self, body: str) -> str:
        batch, cap = self._limits(body)
        return (f"2 x `pgq run --batch-size {batch} --max-concurrent-tasks {cap}` (uvloop, one "
                "asyncpg connection each, LISTEN/NOTIFY)"
                + ("; the def body via asyncio.to_thread" if body in SYNC_BODIES else ""))


# --- streaQ ----------------------------------------------------------------------------------

class Streaq(System):
    key, label = "streaq", "streaQ"
    packages = ("streaq", "coredis")
    stop_signal = signal.SIGINT
    bodies: ClassVar[dict[str, str]] = {**IO_BODIES, "empty": "empty_async"}
    url = redis_url(DB_STREAQ)
    LIBRARY = "streaq"  # the Redis Function library streaQ loads: server-wide, not per DB

    def __init__(self) -> None:
        self._had_library = True

    def _app(self) -> Any:
        os.environ["QUORRA_PEERS_BROKER_URL"] = self.url
        from peer_apps import streaq_app

        return streaq_app

    def setup(self) -> None:
        with redis.Redis.from_url(self.url) as client:
            self._had_library = bool(client.function_list(library=self.LIBRARY))

    def teardown(self) -> None:
        if not self._had_library:
            with redis.Redis.from_url(self.url) as client, \
                    contextlib.suppress(redis.ResponseError):
                client.function_delete(self.LIBRARY)

    def reset(self) -> None:
        delete_keys(self.url, "streaq:qpeers*")

    def _concurrency(self, body: str) -> int:
        return SLEEP_SLOTS if body == "async_sleep" else 10

    def prefill(self, body: str, n: int) -> None:
        app = self._app()
        task = getattr(app, body)

        async def fill() -> None:
            async with app.worker:
                for start in range(0, n, 1000):
                    await app.worker.enqueue_many(
                        [task.enqueue() for _ in range(min(1000, n - start))])

        asyncio.run(fill())

    def enqueue_paced(self, n: int, rate: float) -> int:
        app = self._app()

        async def paced() -> int:
            async with app.worker:
                return await open_loop(n, rate, lambda t: app.latency.enqueue(t))

        return asyncio.run(paced())

    def workers(self, body: str) -> list[Worker]:
        env = base_env() | {"QUORRA_PEERS_BROKER_URL": self.url,
                            "QUORRA_PEERS_CONCURRENCY": str(self._concurrency(body))}
        return [([str(BIN / "streaq"), "run", "peer_apps.streaq_app:worker"], env)
                for _ in range(2)]

    def shape(self, body: str) -> str:
        c = self._concurrency(body)
        return (f"2 x `streaq run` (concurrency {c}, prefetch {c}; blocking XREADGROUP)"
                + ("; the def body in streaQ's thread pool" if body in SYNC_BODIES else ""))


def all_systems() -> dict[str, System]:
    systems: list[System] = [Quorra(redis_mode=True), Quorra(redis_mode=False), Huey(),
                             Dramatiq(), Celery(), PgQueuer(), Streaq(),
                             Quorra(redis_mode=True, leases="stream")]
    return {s.key: s for s in systems}
