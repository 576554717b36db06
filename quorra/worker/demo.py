"""Built-in demo handlers (what ``quorra-worker`` runs without ``--handlers``, and dev mode):
``test_job``, ``email_send`` (simulates sending), ``sleep`` (payload ``seconds``), ``fail``."""

from __future__ import annotations

import asyncio
from typing import Any

from quorra.worker.registry import Job, Registry

__all__ = ["demo_registry"]

demo_registry = Registry()


@demo_registry.handler("test_job")
async def test_job(job: Job) -> dict[str, Any]:
    return {"ok": True, "echo": job.payload}


@demo_registry.handler("email_send")
async def email_send(job: Job) -> dict[str, Any]:
    to = job.payload.get("to", "nobody@example.com")
    await asyncio.sleep(0.05)  # the simulated SMTP round trip
    return {"sent": True, "to": to}


@demo_registry.handler("sleep")
async def sleep(job: Job) -> dict[str, Any]:
    seconds = float(job.payload.get("seconds", 1))
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@demo_registry.handler("fail")
async def fail(job: Job) -> None:
    raise RuntimeError(job.payload.get("message", "this job always fails"))
