"""The Python worker SDK and ``quorra-worker``: a gRPC client of the worker protocol.

    from quorra.worker import Job, PermanentError, handler

    @handler("email_send")
    async def send(job: Job) -> dict:
        if "to" not in job.payload:
            raise PermanentError("no recipient")      # straight to dead
        await deliver(job.payload["to"])               # an exception: retried with backoff
        return {"sent": True}                          # the job's result

A handler enqueues follow-up jobs with ``producer()`` (async) or ``sync_producer()``, the
worker's own ``quorra.AsyncClient`` / ``quorra.Client``.

Run it with ``quorra-worker --handlers myapp.tasks`` or ``Worker(WorkerConfig(...)).run()``.
"""

from quorra.worker.config import WorkerConfig
from quorra.worker.producer import followup_id, producer, sync_producer
from quorra.worker.registry import Handler, Job, PermanentError, Registry, default_registry, handler
from quorra.worker.runner import Worker, WorkerStopped

__all__ = [
    "Handler",
    "Job",
    "PermanentError",
    "Registry",
    "Worker",
    "WorkerConfig",
    "WorkerStopped",
    "default_registry",
    "followup_id",
    "handler",
    "producer",
    "sync_producer",
]
