"""The Python worker SDK and ``quorra-worker``: a gRPC client of the worker protocol.

    from quorra.worker import Job, PermanentError, handler

    @handler("email_send")
    async def send(job: Job) -> dict:
        if "to" not in job.payload:
            raise PermanentError("no recipient")      # straight to dead
        await deliver(job.payload["to"])               # an exception: retried with backoff
        return {"sent": True}                          # the job's result

Run it with ``quorra-worker --handlers myapp.tasks`` or ``Worker(WorkerConfig(...)).run()``.
"""

from quorra.worker.config import WorkerConfig
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
    "handler",
]
