"""The one exception tree of Quorra. Drivers translate third-party errors at their edge.

    QuorraError
     ├── ConfigError          an invalid setting (names the variable)
     ├── InvalidInput         bad job input (names the field); nothing was stored
     │    └── TooLarge        a payload or batch over its documented limit
     ├── JobNotFound          no job with that id
     ├── ScheduleNotFound     no schedule with that name
     ├── QueueNotFound        no job and no pause flag under that queue name
     ├── LeaseLost            wrong, expired or settled lease id; nothing changed
     ├── InvalidTransition    the job's state does not allow this (e.g. retry a job not dead)
 ├── Unauthenticated      no key, or an unknown or revoked one
 │    └── Throttled       too many failed authentications from that client or key id
 ├── PermissionDenied     the key's role or queue patterns do not allow this
 ├── KeyNotFound          no API key with that id
 ├── WebhookNotFound      no webhook subscription with that id
     └── Unavailable          a backing service cannot be reached
          ├── StoreUnavailable     PostgreSQL (the system of record)
          └── DispatchUnavailable  Redis (the dispatch index)
               └── LeaseModeConflict  that Redis is used with the other lease mode
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DispatchUnavailable",
    "InvalidInput",
    "InvalidTransition",
    "JobNotFound",
    "KeyNotFound",
    "LeaseLost",
    "LeaseModeConflict",
    "PermissionDenied",
    "QueueNotFound",
    "QuorraError",
    "ScheduleNotFound",
    "StoreUnavailable",
    "Throttled",
    "TooLarge",
    "Unauthenticated",
    "Unavailable",
    "WebhookNotFound",
]


class QuorraError(Exception):
    """Quorra failed."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or type(self).__name__).strip()
        super().__init__(self.message)


class ConfigError(QuorraError):
    """Invalid configuration."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


class InvalidInput(QuorraError):
    """Invalid input."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}" if field else problem)


class TooLarge(InvalidInput):
    """Input over a documented size limit."""


class JobNotFound(QuorraError):
    """Job not found."""


class ScheduleNotFound(QuorraError):
    """Schedule not found."""


class QueueNotFound(QuorraError):
    """Queue not found."""


class LeaseLost(QuorraError):
    """The lease is wrong, expired or already settled; nothing was changed."""


class InvalidTransition(QuorraError):
    """The job's current state does not allow this operation."""


class Unauthenticated(QuorraError):
    """Invalid or missing API key"""


class Throttled(Unauthenticated):
    """Too many failed authentications; retry later"""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"Too many failed authentications; retry in {retry_after} s")


class PermissionDenied(QuorraError):
    """This API key may not do that."""


class KeyNotFound(QuorraError):
    """API key not found."""


class WebhookNotFound(QuorraError):
    """Webhook not found."""


class Unavailable(QuorraError):
    """A backing service is unavailable."""


class StoreUnavailable(Unavailable):
    """The job store (PostgreSQL) is unavailable."""


class DispatchUnavailable(Unavailable):
    """The dispatch index (Redis) is unavailable."""


class LeaseModeConflict(DispatchUnavailable):
    """The Redis dataset is used with the other ``QUORRA_REDIS_LEASES`` mode: dispatching to it
    would mix grant proposals and stream leases, so this replica dispatches from PostgreSQL."""
