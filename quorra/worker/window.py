"""How many jobs a worker asks the server for: its handler slots (``max_jobs``) plus, while its
jobs are short, ``prefetch`` more that wait here for the next free slot. A short job's slot
would otherwise sit idle for a whole round trip to the server (settle, lease, deliver) after
each job; a long job gains nothing from waiting here, and a job held here is one another idle
worker cannot run, so the prefetch stops once handlers average ``SHORT_JOB`` or more.
"""

from __future__ import annotations

__all__ = ["SHORT_JOB", "Window"]

SHORT_JOB = 0.25  # seconds: handlers averaging less than this get prefetched jobs
_WEIGHT = 0.1  # of the newest duration in the running average


class Window:
    def __init__(self, max_jobs: int, prefetch: int) -> None:
        self.max_jobs = max_jobs
        self.prefetch = prefetch
        self.average: float | None = None  # handler seconds; unknown at first: no prefetch

    def observe(self, seconds: float) -> None:
        """A handler ran for ``seconds``."""
        if self.average is None:
            self.average = seconds
        else:
            self.average += _WEIGHT * (seconds - self.average)

    def size(self) -> int:
        """Jobs to hold now: running, prefetched and asked for."""
        return self.max_jobs + self._prefetching()

    def worth_asking(self, lacking: int, held: int) -> bool:
        """Ask the server for ``lacking`` more jobs now (``held``: running, prefetched and asked
        for)? At once while what is held would not fill every slot; else only once a batch is
        lacking (a quarter of the prefetch), so the server leases many jobs per statement
        instead of one per finished job."""
        return held < self.max_jobs or lacking >= max(1, self._prefetching() // 4)

    def _prefetching(self) -> int:
        short = self.average is not None and self.average < SHORT_JOB
        return self.prefetch if short else 0
