"""Tenants: a principal with a ``tenant`` sees only the queues stored as ``<tenant>~<queue>``,
and sees them as ``<queue>``; a principal without one (``QUORRA_API_KEY``, keys and tokens made
without a tenant) sees every queue by its stored name, ``acme~orders`` included.

``~`` is not a queue-name character of its own (``[A-Za-z0-9_.:-]``), so no queue of one tenant
or of no tenant can be named like another tenant's; a stored name is at most 128 characters,
prefix included. The front doors translate at their edge (``quorra.tenancy.TenantJobs`` and the
RPC servicer): the services, brokers, SQL and Redis only ever see stored names."""

from __future__ import annotations

from collections.abc import Iterable

from quorra.core.errors import InvalidInput
from quorra.core.keys import Principal

__all__ = ["SEPARATOR", "owns", "shown_queue", "stored_queue", "stored_queues", "tenant_prefix"]

SEPARATOR = "~"
MAX_STORED = 128


def tenant_prefix(tenant: str | None) -> str | None:
    return None if tenant is None else f"{tenant}{SEPARATOR}"


def stored_queue(principal: Principal, queue: str, field: str = "queue") -> str:
    """The stored name of ``queue`` as ``principal`` names it."""
    if principal.tenant is None:
        return queue
    if SEPARATOR in queue:
        raise InvalidInput(field, f"a tenant's queue name has no {SEPARATOR!r}")
    stored = f"{principal.tenant}{SEPARATOR}{queue}"
    if len(stored) > MAX_STORED:
        raise InvalidInput(field, f"at most {MAX_STORED - len(principal.tenant) - 1} "
                                  "characters for this tenant")
    return stored


def stored_queues(principal: Principal, queues: Iterable[str], field: str = "queues"
                  ) -> list[str]:
    return [stored_queue(principal, queue, field) for queue in queues]


def owns(principal: Principal, stored: str) -> bool:
    """Whether the queue stored as ``stored`` is one ``principal`` may see at all."""
    return principal.tenant is None or stored.startswith(f"{principal.tenant}{SEPARATOR}")


def shown_queue(principal: Principal, stored: str) -> str:
    """``stored`` as ``principal`` sees it (only called for queues it owns)."""
    if principal.tenant is None:
        return stored
    return stored[len(principal.tenant) + 1:]
