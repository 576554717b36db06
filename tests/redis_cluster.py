"""A private Redis Cluster for tests: 3 masters and 3 replicas, each a ``redis-server`` on free
local ports (client and cluster-bus port), without persistence, in a temporary directory;
joined with ``redis-cli --cluster create``. Started once per session by the ``redis_cluster``
fixture (``tests/conftest.py``) and stopped after it."""

from __future__ import annotations

import functools
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from redis.cluster import ClusterNode, RedisCluster

from tests.support import free_port, wait_until

__all__ = ["LocalCluster"]

_NODES = 6
_NODE_TIMEOUT_MS = 2000


class LocalCluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="quorra-cluster-"))
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self._args: list[list[str]] = []

    @property
    def url(self) -> str:
        """The switch Quorra reads: a ``redis+cluster://`` URL naming one node."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> LocalCluster:
        for i in range(_NODES):
            self._spawn(i, free_port(), free_port())
        for port in self.ports:
            wait_until(functools.partial(self._ping, port), timeout=10,
                       what=f"redis-server on port {port}")
        subprocess.run(
            ["redis-cli", "--cluster", "create",
             *[f"127.0.0.1:{port}" for port in self.ports],
             "--cluster-replicas", "1", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=60)
        wait_until(self.ready, timeout=30, what="cluster_state:ok on every node")
        return self

    def _spawn(self, i: int, port: int, bus: int) -> None:
        node_dir = self.dir / str(i)
        node_dir.mkdir()
        self.ports.append(port)
        self._args.append(
            ["redis-server", "--port", str(port), "--cluster-port", str(bus),
             "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(_NODE_TIMEOUT_MS), "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(node_dir)])
        self.procs.append(self._popen(i))

    def _popen(self, i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self._args[i], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def kill(self, port: int) -> None:
        """SIGKILL one node: its replica takes over after the node timeout (2 s here)."""
        proc = self.procs[self.ports.index(port)]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def restart(self, port: int, *, timeout: float = 30.0) -> None:
        """Start a killed node again (empty: no persistence); it rejoins from its nodes.conf
        as a replica of the master that took its slots. Waits until the cluster is whole."""
        i = self.ports.index(port)
        self.procs[i] = self._popen(i)
        wait_until(self.ready, timeout=timeout, what=f"node {port} back as a replica")

    @staticmethod
    def _ping(port: int) -> bool:
        try:
            with redis.Redis(port=port, socket_connect_timeout=0.2) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, decode_responses=True, socket_timeout=5)

    def ready(self) -> bool:
        """Every node sees the cluster as ok, with 3 masters each with one connected replica."""
        try:
            for port in self.ports:
                with self.node(port) as client:
                    if client.cluster("info").get("cluster_state") != "ok":
                        return False
            return len(self.replicas_in_sync()) == _NODES // 2
        except redis.RedisError:
            return False

    def replicas_in_sync(self) -> list[int]:
        """Ports of replicas whose link to their master is up."""
        found = []
        for port in self.ports:
            with self.node(port) as client:
                info = client.info("replication")
            if info.get("role") == "slave" and info.get("master_link_status") == "up":
                found.append(port)
        return found

    def master_of(self, key: str) -> int:
        """Port of the master that serves ``key``'s slot now."""
        # redis-py leaves ClusterNode.__init__ unannotated
        nodes = [ClusterNode("127.0.0.1", p) for p in self.ports]  # type: ignore[no-untyped-call]
        with RedisCluster(startup_nodes=nodes, decode_responses=True) as client:
            node = client.get_node_from_key(key)
            return int(node.port)

    def replica_of(self, master: int) -> int:
        with self.node(master) as client:
            replicas = [v for k, v in client.info("replication").items()
                        if k.startswith("slave") and isinstance(v, dict)]
        return int(replicas[0]["port"])

    def failover(self, replica: int, *, timeout: float = 30.0) -> float:
        """``CLUSTER FAILOVER`` on ``replica`` (a coordinated manual failover: its master stops
        taking writes, the replica catches up, then takes over); returns the seconds until the
        replica was a master and the cluster ok again."""
        started = time.monotonic()
        with self.node(replica) as client:
            client.execute_command("CLUSTER", "FAILOVER")
        wait_until(lambda: self._role(replica) == "master" and self.ready(), timeout=timeout,
                   what=f"failover to {replica}")
        return time.monotonic() - started

    def heal(self) -> None:
        """Start every node that is not running, and wait until the cluster is whole."""
        for i, proc in enumerate(self.procs):
            if proc.poll() is not None:
                self.procs[i] = self._popen(i)
        wait_until(self.ready, timeout=30, what="the cluster whole again")

    def wait_master(self, port: int, *, timeout: float = 30.0) -> None:
        wait_until(lambda: self._role(port) == "master", timeout=timeout,
                   what=f"{port} to become a master")

    def _role(self, port: int) -> str:
        with self.node(port) as client:
            return str(client.info("replication").get("role"))

    def flush(self) -> None:
        for port in self.ports:
            with self.node(port) as client:
                if client.info("replication").get("role") == "master":
                    client.flushall()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        for proc in self.procs:
            proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
