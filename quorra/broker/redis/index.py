"""The Redis dispatch index: typed wrappers around the Lua scripts in ``lua/``, and the one place
redis errors become ``DispatchUnavailable``. Redis only proposes jobs; Postgres decides."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from quorra.broker.redis.client import is_cluster
from quorra.broker.redis.config_check import UNKNOWN, RedisConfig
from quorra.broker.redis.keys import GROUP, LEASE_MODE, TOKEN, WAKE_CHANNEL, queue_keys
from quorra.core.errors import DispatchUnavailable, LeaseModeConflict

__all__ = ["Entry", "Identity", "Proposal", "RedisIndex", "recorded_lease_mode", "translate"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SCRIPTS = ("init", "dispatch", "lease", "settle", "reclaim", "forget_consumers", "next_wait",
            "cancel")


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """A pending job as Postgres has it, to be proposed in Redis."""

    job_id: uuid.UUID
    queue: str
    seq: int
    priority: int
    run_at: datetime

    def args(self) -> list[str | int]:
        run_at_us = (self.run_at - _EPOCH) // _MICROSECOND  # exact, as Postgres stores it
        due_ms = -(-run_at_us // 1000)  # never early
        member = f"{run_at_us:017d}:{self.job_id}:{self.seq}"
        return [str(self.job_id), self.seq, self.priority, due_ms, member]


@dataclasses.dataclass(frozen=True, slots=True)
class Proposal:
    """A proposal read into this server's pending list: grant it in Postgres, then settle.
    The job id stays text: Postgres casts it, and settle sends it back as it came."""

    entry_id: str
    job_id: str
    seq: int


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """What changes when the dataset is not the one we dispatched into."""

    run_id: str | None
    replid: str | None
    token: str | None


def _raised_in_client(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside redis-py itself (its innermost frame is there)."""
    tb, module = exc.__traceback__, ""
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    return module.startswith("redis.")


@contextlib.contextmanager
def translate() -> Any:
    try:
        yield
    except (RedisError, RedisClusterException) as exc:  # the latter: no node reachable
        raise DispatchUnavailable(f"Redis is unavailable: {type(exc).__name__}: {exc}") from exc
    except (AttributeError, KeyError) as exc:
        # redis-py's cluster client, while a node dies, may close a connection another call is
        # using (AttributeError on its writer) or miss a slot in its map (KeyError): a failed
        # Redis call like any other. The same errors raised by Quorra's own code propagate.
        if not _raised_in_client(exc):
            raise
        raise DispatchUnavailable(f"Redis is unavailable: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:  # a socket error that escaped the client
        raise DispatchUnavailable(f"Redis is unavailable: {exc}") from exc


class RedisIndex:
    LEASE_MODE = "grant"  # PostgreSQL grants each lease proposed here (QUORRA_REDIS_LEASES)

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._scripts: dict[str, Any] = {}
        self._load(_SCRIPTS)

    def _load(self, names: Sequence[str]) -> None:
        for name in names:
            self._scripts[name] = self.client.register_script(
                resources.files("quorra.broker.redis").joinpath(f"lua/{name}.lua")
                .read_text("utf-8"))

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        with translate():
            return await self._scripts[name](keys=list(keys), args=list(args))

    async def close(self) -> None:
        with contextlib.suppress(RedisError, RedisClusterException, OSError, TimeoutError):
            async with asyncio.timeout(2.0):
                await self.client.aclose()

    async def init(self) -> str:
        """Adopt (or set) the dataset's token and lease mode; returns the token. Raises
        ``LeaseModeConflict`` when the dataset is used with the other lease mode."""
        token, mode = await self._run("init", [TOKEN, LEASE_MODE],
                                      [uuid.uuid4().hex, self.LEASE_MODE])
        if str(mode) != self.LEASE_MODE:
            raise LeaseModeConflict(
                f"this Redis is used with QUORRA_REDIS_LEASES={mode!s} and this replica "
                f"has {self.LEASE_MODE}: dispatching from PostgreSQL (docs/architecture.md, "
                "Lease modes)")
        return str(token)

    async def identity(self) -> Identity:
        with translate():
            token = await self.client.get(TOKEN)
            if is_cluster(self.client):
                return await self._cluster_identity(token)
            try:
                server = await self.client.info("server")
                replication = await self.client.info("replication")
            except ResponseError:  # a Redis without INFO (an in-process fake): token only
                server, replication = {}, {}
        run_id = server.get("run_id")
        replid = replication.get("master_replid")
        return Identity(run_id=None if run_id is None else str(run_id),
                        replid=None if replid is None else str(replid),
                        token=None if token is None else str(token))

    async def _cluster_identity(self, token: Any) -> Identity:
        """On a cluster one node's ``run_id``/``replid`` do not name the data (a failover
        changes them while keeping it): the token alone does. Every master is pinged, so a
        master that stopped answering fails the probe as a standalone Redis would (and the
        server falls back, then rebuilds once the cluster has failed over)."""
        await self.client.ping(target_nodes=RedisCluster.PRIMARIES)
        return Identity(run_id=None, replid=None, token=None if token is None else str(token))

    async def config(self) -> RedisConfig:
        """The settings Quorra depends on (``config_check.py``): the eviction policy from CONFIG
        GET, or from INFO when CONFIG is renamed or refused, and whether AOF is on."""
        with translate():
            policy, source = await self._policy()
            aof = await self._info_field("persistence", "aof_enabled")
        return RedisConfig(maxmemory_policy=policy, policy_from=source,
                           aof_enabled=None if aof is None else str(aof) == "1")

    async def _policy(self) -> tuple[str, str | None]:
        try:
            reply = await self.client.config_get("maxmemory-policy")
        except ResponseError:  # CONFIG renamed, disabled or refused by an ACL (managed Redis)
            reply = {}
        if reply.get("maxmemory-policy"):
            return str(reply["maxmemory-policy"]), "CONFIG GET"
        policy = await self._info_field("memory", "maxmemory_policy")
        return (UNKNOWN, None) if policy is None else (str(policy), "INFO memory")

    async def _info_field(self, section: str, field: str) -> Any:
        try:
            return (await self.client.info(section)).get(field)
        except ResponseError:  # INFO refused too (or an in-process fake without it)
            return None

    async def dispatch(self, queue: str, entries: Sequence[Entry]) -> int:
        keys = queue_keys(queue)
        args: list[Any] = [WAKE_CHANNEL, queue]
        for entry in entries:
            args.extend(entry.args())
        return int(await self._run("dispatch", [keys.ready, keys.delayed, keys.idx], args))

    async def cancel(self, queue: str, entries: Sequence[Entry]) -> dict[str, str]:
        """Drop cancelled jobs' proposals, bodies and stream leases (``lua/cancel.lua``);
        returns job id -> the lease record Redis held for it (stream leases)."""
        if not entries:
            return {}
        keys = queue_keys(queue)
        args: list[Any] = [GROUP]
        for entry in entries:
            job, _, priority, _, member = entry.args()
            args.extend((job, member, priority))
        reply = await self._run("cancel", [keys.ready, keys.delayed, keys.idx, keys.bodies,
                                           keys.leases, keys.stream], args)
        return {str(reply[i]): str(reply[i + 1]) for i in range(0, len(reply), 2)}

    async def lease(self, queue: str, consumer: str, want: int,
                    promote: int = 256) -> tuple[int, list[Proposal]]:
        """``(wait_ms, proposals)``: see ``lua/lease.lua``."""
        keys = queue_keys(queue)
        reply = await self._run("lease", [keys.ready, keys.delayed, keys.stream, keys.paused],
                                [GROUP, consumer, want, promote])
        proposals = [Proposal(entry_id=reply[i], job_id=reply[i + 1], seq=int(reply[i + 2]))
                     for i in range(1, len(reply), 3)]
        return int(reply[0]), proposals

    async def settle(self, queue: str, proposals: Sequence[Proposal]) -> None:
        if not proposals:
            return
        keys = queue_keys(queue)
        args: list[Any] = [GROUP]
        for p in proposals:
            args.extend((p.entry_id, p.job_id, p.seq))
        await self._run("settle", [keys.stream, keys.idx], args)

    async def reclaim(self, queue: str, consumer: str, min_idle_ms: int, *,
                      count: int = 100, max_pages: int = 1000) -> int:
        keys = queue_keys(queue)
        cursor, total = "0-0", 0
        for _ in range(max_pages):
            cursor, n = await self._run("reclaim", [keys.stream, keys.ready],
                                        [GROUP, consumer, min_idle_ms, cursor, count])
            total += int(n)
            if str(cursor) == "0-0":
                break
        return total

    async def forget_consumers(self, queue: str, consumer: str, min_idle_ms: int) -> int:
        return int(await self._run("forget_consumers", [queue_keys(queue).stream],
                                   [GROUP, min_idle_ms, consumer]))

    async def next_wait(self, queue: str) -> int:
        keys = queue_keys(queue)
        return int(await self._run("next_wait", [keys.ready, keys.delayed, keys.paused,
                                                 keys.limits, keys.rate, keys.leases], []))

    async def set_paused(self, queue: str, paused: bool, *, wake: bool = True) -> None:
        """Mirror a queue's pause flag (``lua/lease.lua`` serves nothing while it is set); a
        resume publishes a wake-up (unless ``wake`` is false) so lessees on every server look
        again."""
        key = queue_keys(queue).paused
        with translate():
            if paused:
                await self.client.set(key, "1")
                return
            await self.client.delete(key)
            if wake:
                await self.client.publish(WAKE_CHANNEL, queue)

    @staticmethod
    async def next_message(pubsub: aioredis.client.PubSub, timeout: float) -> str | None:
        """The next wake-up published (a queue name), or None after ``timeout``. A cancel that
        arrives while redis-py waits is swallowed there (it returns None as if timed out): it is
        raised here again, or the listener's loop would never end."""
        with translate():
            message = await pubsub.get_message(timeout=timeout)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        if message is None or message.get("type") != "message":
            return None
        return str(message["data"])

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[aioredis.client.PubSub]:
        if is_cluster(self.client):  # the cluster's pub/sub picks its node from the slot map
            with translate():
                await self.client.initialize()  # a no-op once the map is loaded
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            with translate():
                await pubsub.subscribe(WAKE_CHANNEL)
            yield pubsub
        finally:
            with contextlib.suppress(RedisError, RedisClusterException, OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


async def recorded_lease_mode(client: aioredis.Redis, *, timeout: float = 1.0) -> str | None:
    """The lease mode the dataset records (``init.lua``), or ``None``: none recorded yet, or
    Redis not answering within ``timeout`` (the replica starts with the default then)."""
    try:
        async with asyncio.timeout(timeout):
            with translate():
                mode = await client.get(LEASE_MODE)
    except (DispatchUnavailable, TimeoutError):
        return None
    return None if mode is None else str(mode)
