"""The archive: reads over the system of record (jobs, listings, queue counts, readiness)."""

from quorra.archive.base import Archive

__all__ = ["Archive"]
