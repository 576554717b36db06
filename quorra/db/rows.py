"""Row → domain mapping for the job columns every job query selects (in this order)."""

from __future__ import annotations

from typing import Any, LiteralString

from quorra.core.jobs import Job, JobStatus

__all__ = ["JOB_COLUMNS", "row_to_job"]

JOB_COLUMNS: tuple[LiteralString, ...] = (
    "id", "type", "payload", "queue", "priority", "status", "attempts", "max_retries",
    "last_error", "result", "run_at", "created_at", "updated_at", "lease_id", "leased_at",
    "leased_by", "lease_expires_at", "finished_at", "timeout_seconds", "traceparent")
"""The job columns every job read selects, in ``row_to_job``'s order (SQL blocks name them
``{{job_columns}}``: ``quorra/db/sqlfiles.py``)."""


def row_to_job(row: tuple[Any, ...]) -> Job:
    """``JOB_COLUMNS``, optionally followed by ``unique_key``, ``depends_on`` and
    ``dependents`` (the reads that show a job)."""
    (id_, type_, payload, queue, priority, status, attempts, max_retries, last_error, result,
     run_at, created_at, updated_at, lease_id, leased_at, leased_by, lease_expires_at,
     finished_at, timeout_seconds, traceparent) = row[:len(JOB_COLUMNS)]
    return Job(
        id=id_, type=type_, payload=payload, queue=queue, priority=priority,
        status=JobStatus(status), attempts=attempts, max_retries=max_retries,
        last_error=last_error, result=result, run_at=run_at, created_at=created_at,
        updated_at=updated_at, lease_id=lease_id, leased_at=leased_at, leased_by=leased_by,
        lease_expires_at=lease_expires_at, finished_at=finished_at,
        timeout_seconds=timeout_seconds, traceparent=traceparent,
        unique_key=row[20] if len(row) > 20 else None,
        depends_on=row[21] if len(row) > 21 else None,
        dependents=row[22] if len(row) > 22 else None,
    )
