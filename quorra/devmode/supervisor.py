"""Dev mode's process supervisor: one ``quorra-server`` and the demo workers as child
processes, started in order and stopped in reverse (workers drain first, then the server).

Children run in their own session, so a terminal's Ctrl-C reaches only the supervisor, which
then stops them in order; on Linux each child also gets SIGTERM if the supervisor dies."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import signal
import sys
import time
from collections.abc import Callable, Sequence

import httpx

from quorra.core.waiting import wait_event

__all__ = ["Child", "Plan", "supervise"]

PR_SET_PDEATHSIG = 1


@dataclasses.dataclass(frozen=True)
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Plan:
    server: Child
    workers: Sequence[Child]
    ready_url: str
    on_ready: Callable[[], None]
    ready_timeout: float = 60.0
    grace: float = 35.0  # a worker drains its jobs for up to 30 s by default


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the supervisor goes away."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


async def _spawn(child: Child) -> asyncio.subprocess.Process:
    preexec = _die_with_parent if sys.platform == "linux" else None
    return await asyncio.create_subprocess_exec(
        *child.argv, env=child.env, start_new_session=True, preexec_fn=preexec)


def _say(text: str) -> None:
    print(f"quorra-dev: {text}", file=sys.stderr, flush=True)


async def _ready(url: str, server: asyncio.subprocess.Process, stop: asyncio.Event,
                 timeout: float) -> bool:
    """Poll the readiness URL until 200; False if the server exits, stop is asked, or time
    runs out."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1.0) as http:
        while server.returncode is None and not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return True
            if time.monotonic() > deadline:
                _say(f"the server was not ready after {timeout:g}s")
                return False
            await wait_event(stop, 0.1)
    return False


async def _terminate(procs: Sequence[asyncio.subprocess.Process], grace: float,
                     force: asyncio.Event) -> None:
    """SIGTERM all, wait up to ``grace`` seconds (or until ``force``), then SIGKILL the rest."""
    alive = [p for p in procs if p.returncode is None]
    for proc in alive:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    if not alive:
        return
    forced = asyncio.ensure_future(force.wait())
    exits = [asyncio.ensure_future(p.wait()) for p in alive]
    done = asyncio.ensure_future(asyncio.wait(exits))
    await asyncio.wait([done, forced], timeout=grace,
                       return_when=asyncio.FIRST_COMPLETED)
    for task in (forced, done, *exits):
        task.cancel()
    for proc in alive:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def _watch_worker(name: str, proc: asyncio.subprocess.Process,
                        stop: asyncio.Event) -> None:
    code = await proc.wait()
    if not stop.is_set():
        _say(f"{name} exited with status {code}")


async def supervise(plan: Plan) -> int:
    """Run the plan until SIGINT/SIGTERM (exit 0) or until the server dies (exit 1)."""
    loop = asyncio.get_running_loop()
    stop, force = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:  # the first asks for a clean stop, a second one hurries it
        if stop.is_set():
            _say("stopping now")
            force.set()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    server = await _spawn(plan.server)
    workers: list[asyncio.subprocess.Process] = []
    watchers: list[asyncio.Task[None]] = []
    try:
        if not await _ready(plan.ready_url, server, stop, plan.ready_timeout):
            if server.returncode is not None:
                _say(f"quorra-server exited with status {server.returncode} before it was "
                     "ready (see its message above)")
            return 0 if stop.is_set() else 1
        for child in plan.workers:
            proc = await _spawn(child)
            workers.append(proc)
            watchers.append(asyncio.create_task(_watch_worker(child.name, proc, stop)))
        plan.on_ready()
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([stopped, asyncio.ensure_future(server.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            _say(f"the server exited with status {server.returncode}; stopping")
        stopped.cancel()
        return 0 if stop.is_set() else 1
    finally:
        stop.set()
        _say("stopping workers and server (Ctrl-C again to hurry)")
        await _terminate(workers, plan.grace, force)
        await _terminate([server], plan.grace, force)
        for watcher in watchers:
            watcher.cancel()
