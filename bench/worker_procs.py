"""Worker processes of one drain in the peer comparison: started in their own session, CPU read
from /proc for the whole tree (Dramatiq and Celery fork their executors), stopped by PID.

Only PIDs this module started, and their descendants recorded with their start times, are ever
signalled; a recycled PID is never hit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, int, str] | None:
    """(parent pid, own + reaped children's CPU seconds, start time, comm) or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.find("(") + 1:raw.rfind(")")]
    cols = raw[raw.rfind(")") + 2:].split()
    if cols[0] == "Z":
        return None
    cpu = sum(int(c) for c in cols[11:15]) / TICK
    return int(cols[1]), cpu, int(cols[19]), comm


def _all() -> dict[int, tuple[int, float, int, str]]:
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                out[int(name)] = st
    return out


def tree(roots: Iterable[int]) -> dict[int, tuple[int, float, int, str]]:
    """The live processes of the trees under ``roots`` (roots included)."""
    stats = _all()
    children: dict[int, list[int]] = {}
    for pid, st in stats.items():
        children.setdefault(st[0], []).append(pid)
    out: dict[int, tuple[int, float, int, str]] = {}
    stack = [p for p in roots if p in stats]
    while stack:
        pid = stack.pop()
        if pid not in out:
            out[pid] = stats[pid]
            stack.extend(children.get(pid, []))
    return out


def cpu_of(comm: str) -> float:
    """CPU seconds of every process named ``comm`` (e.g. the whole PostgreSQL server)."""
    return sum(st[1] for st in _all().values() if st[3] == comm)


class WorkerGroup:
    """The worker commands of one system for one drain; always ``stop()`` it."""

    def __init__(self, cmds: Sequence[Sequence[str]], env: Mapping[str, str], log: Path,
                 stop_signal: int = signal.SIGTERM) -> None:
        self.cmds = [list(c) for c in cmds]
        self.env = dict(env)
        self.log = log
        self.stop_signal = stop_signal
        self.procs: list[subprocess.Popen[bytes]] = []
        self.spawned = 0.0
        self._out: IO[bytes] | None = None

    def start(self) -> WorkerGroup:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._out = self.log.open("ab")
        self.spawned = time.time()
        for cmd in self.cmds:
            self.procs.append(subprocess.Popen(cmd, env=self.env, stdout=self._out,
                                               stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL,
                                               start_new_session=True))
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def exited(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is not None]

    def cpu(self) -> float:
        return sum(st[1] for st in tree(self.pids).values())

    def stop(self, grace: float = 10.0) -> None:
        """The system's graceful signal to each started PID, then SIGKILL to whatever of the
        trees (recorded before signalling) is still there after ``grace`` seconds."""
        if not self.procs:
            return
        known = {pid: st[2] for pid, st in tree(self.pids).items()}
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, self.stop_signal)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        known.update({pid: st[2] for pid, st in tree(self.pids).items()})
        for pid, started in known.items():
            st = _stat(pid)
            if st is not None and st[2] == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.procs = []
        if self._out is not None:
            self._out.close()
            self._out = None
