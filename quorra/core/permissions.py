"""The one permission table: what each REST route and each gRPC method needs, and where its
queue comes from. The front doors look their rule up here (the HTTP app refuses to start with a
``/v1`` route missing from it), and the role-matrix tests are generated from it.

Queue sources (``Scope``):

- ``NONE``: no queue is involved beyond the permission.
- ``ALL``: the call reads or changes every queue (listings, schedules, keys): a key limited to
  queue patterns is denied.
- ``PATH``: the ``{queue}`` path parameter must match the key's patterns.
- ``QUERY``: the ``queue`` query parameter; a limited key must name one of its queues.
- ``BODY``: every job (or filter) in the body names its queue, checked once decoded.
- ``JOB``: the queue of the job named in the path or message, checked once it is read.
- ``REQUEST``: the queues a lease stream or session asks for.
- ``LEASE``: the lease id names a job leased by a stream that was allowed on its queue.

Tenants: a rule with ``tenants=False`` is refused to a principal of a tenant (schedules, keys,
metrics and the dashboard span every tenant); the others are served to it through its own
queues only (``quorra.tenancy``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable

from quorra.core.errors import PermissionDenied
from quorra.core.keys import Permission, Principal

__all__ = ["DASHBOARD_ROUTES", "OPEN_ROUTES", "REST_ROUTES", "RPC_METHODS", "Rule", "Scope",
           "authorize", "authorize_queues"]


class Scope(enum.Enum):
    NONE = "none"
    ALL = "all"
    PATH = "path"
    QUERY = "query"
    BODY = "body"
    JOB = "job"
    REQUEST = "request"
    LEASE = "lease"


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    permission: Permission
    scope: Scope = Scope.NONE
    tenants: bool = True  # False: refused to a tenant's principal


P = Permission
_JOB = "/v1/jobs/{job_id:str}"
_QUEUE = "/v1/queues/{queue:str}"
_SCHEDULE = "/v1/schedules/{name:str}"
_WEBHOOK = "/v1/webhooks/{webhook_id:str}"

REST_ROUTES: dict[tuple[str, str], Rule] = {
    ("POST", "/v1/jobs"): Rule(P.ENQUEUE, Scope.BODY),
    ("POST", "/v1/jobs/batch"): Rule(P.ENQUEUE, Scope.BODY),
    ("GET", _JOB): Rule(P.READ_JOBS, Scope.JOB),
    ("GET", "/v1/jobs"): Rule(P.READ_JOBS, Scope.QUERY),
    ("POST", f"{_JOB}/retry"): Rule(P.MANAGE_JOBS, Scope.JOB),
    ("POST", f"{_JOB}/cancel"): Rule(P.MANAGE_JOBS, Scope.JOB),
    ("DELETE", _JOB): Rule(P.MANAGE_JOBS, Scope.JOB),
    ("POST", "/v1/jobs/cancel"): Rule(P.MANAGE_JOBS, Scope.BODY),
    ("GET", "/v1/queues"): Rule(P.READ_ALL, Scope.ALL),
    ("GET", "/v1/recent"): Rule(P.READ_ALL, Scope.ALL),
    ("GET", "/v1/workers"): Rule(P.READ_ALL, Scope.ALL),
    ("GET", "/v1/replicas"): Rule(P.READ_ALL, Scope.ALL, tenants=False),
    ("POST", f"{_QUEUE}/retry-dead"): Rule(P.MANAGE_JOBS, Scope.PATH),
    ("POST", f"{_QUEUE}/pause"): Rule(P.QUEUES, Scope.PATH),
    ("POST", f"{_QUEUE}/resume"): Rule(P.QUEUES, Scope.PATH),
    ("PUT", f"{_QUEUE}/limits"): Rule(P.QUEUES, Scope.PATH),
    ("GET", f"{_QUEUE}/limits"): Rule(P.READ_ALL, Scope.PATH),
    ("DELETE", f"{_QUEUE}/limits"): Rule(P.QUEUES, Scope.PATH),
    ("POST", "/v1/schedules"): Rule(P.SCHEDULES, Scope.ALL, tenants=False),
    ("PUT", _SCHEDULE): Rule(P.SCHEDULES, Scope.ALL, tenants=False),
    ("GET", "/v1/schedules"): Rule(P.READ_ALL, Scope.ALL, tenants=False),
    ("GET", _SCHEDULE): Rule(P.READ_ALL, Scope.ALL, tenants=False),
    ("DELETE", _SCHEDULE): Rule(P.SCHEDULES, Scope.ALL, tenants=False),
    ("POST", f"{_SCHEDULE}/pause"): Rule(P.SCHEDULES, Scope.ALL, tenants=False),
    ("POST", f"{_SCHEDULE}/resume"): Rule(P.SCHEDULES, Scope.ALL, tenants=False),
    ("POST", "/v1/keys"): Rule(P.KEYS, Scope.ALL, tenants=False),
    ("GET", "/v1/keys"): Rule(P.KEYS, Scope.ALL, tenants=False),
    ("DELETE", "/v1/keys/{key_id:str}"): Rule(P.KEYS, Scope.ALL, tenants=False),
    ("POST", "/v1/webhooks"): Rule(P.WEBHOOKS, Scope.ALL, tenants=False),
    ("GET", "/v1/webhooks"): Rule(P.WEBHOOKS, Scope.ALL, tenants=False),
    ("GET", _WEBHOOK): Rule(P.WEBHOOKS, Scope.ALL, tenants=False),
    ("PATCH", _WEBHOOK): Rule(P.WEBHOOKS, Scope.ALL, tenants=False),
    ("DELETE", _WEBHOOK): Rule(P.WEBHOOKS, Scope.ALL, tenants=False),
    ("GET", f"{_WEBHOOK}/deliveries"): Rule(P.WEBHOOKS, Scope.ALL, tenants=False),
}

# Open unless QUORRA_PROTECT_METRICS is set: then /metrics needs this rule, and /readyz answers
# its details only to such a key (its status code stays open for probes).
OPEN_ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/metrics"): Rule(P.READ_ALL, Scope.ALL, tenants=False),
    ("GET", "/readyz"): Rule(P.READ_ALL, Scope.ALL, tenants=False),
}

# The dashboard's JSON endpoints (session cookie; logging in needs DASHBOARD and every queue).
_DJOB = "/dashboard/api/jobs/{job_id:str}"
_DQUEUE = "/dashboard/api/queues/{queue:str}"
_DSCHEDULE = "/dashboard/api/schedules/{name:str}"
DASHBOARD_ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/dashboard/api/overview"): Rule(P.READ_ALL, Scope.ALL, tenants=False),
    ("GET", "/dashboard/api/jobs"): Rule(P.READ_ALL, Scope.ALL, tenants=False),
    ("POST", f"{_DJOB}/retry"): Rule(P.MANAGE_JOBS, Scope.ALL, tenants=False),
    ("POST", f"{_DJOB}/cancel"): Rule(P.MANAGE_JOBS, Scope.ALL, tenants=False),
    ("DELETE", _DJOB): Rule(P.MANAGE_JOBS, Scope.ALL, tenants=False),
    ("POST", f"{_DQUEUE}/retry-dead"): Rule(P.MANAGE_JOBS, Scope.ALL, tenants=False),
    ("POST", f"{_DQUEUE}/pause"): Rule(P.QUEUES, Scope.ALL, tenants=False),
    ("POST", f"{_DQUEUE}/resume"): Rule(P.QUEUES, Scope.ALL, tenants=False),
    ("GET", "/dashboard/api/schedules"): Rule(P.READ_ALL, Scope.ALL, tenants=False),
    ("POST", f"{_DSCHEDULE}/pause"): Rule(P.SCHEDULES, Scope.ALL, tenants=False),
    ("POST", f"{_DSCHEDULE}/resume"): Rule(P.SCHEDULES, Scope.ALL, tenants=False),
    ("GET", "/dashboard/api/webhooks"): Rule(P.WEBHOOKS, Scope.ALL, tenants=False),
}

_RPC = "/quorra.WorkerService/"
RPC_METHODS: dict[str, Rule] = {
    f"{_RPC}LeaseJobs": Rule(P.LEASE, Scope.REQUEST),
    f"{_RPC}Session": Rule(P.LEASE, Scope.REQUEST),
    f"{_RPC}AckJob": Rule(P.LEASE, Scope.LEASE),
    f"{_RPC}NackJob": Rule(P.LEASE, Scope.LEASE),
    f"{_RPC}ExtendLease": Rule(P.LEASE, Scope.LEASE),
    f"{_RPC}EnqueueJobs": Rule(P.ENQUEUE, Scope.BODY),
    f"{_RPC}GetJob": Rule(P.READ_JOBS, Scope.JOB),
    f"{_RPC}CancelJob": Rule(P.MANAGE_JOBS, Scope.JOB),
}


def authorize(principal: Principal, rule: Rule) -> None:
    """The role check, and for ``ALL`` the every-queue check; the other scopes are checked
    where their queue is known (``authorize_queues``)."""
    if not principal.may(rule.permission):
        raise PermissionDenied(f"a {principal.role} key may not {rule.permission.value}")
    if principal.tenant is not None and not rule.tenants:
        raise PermissionDenied("this spans every tenant: not for a tenant's key")
    if rule.scope is Scope.ALL and not principal.every_queue:
        raise PermissionDenied("this needs a key for every queue")


def authorize_queues(principal: Principal, queues: Iterable[str]) -> None:
    denied = principal.denied_queues(queues)
    if denied:
        raise PermissionDenied(f"this key may not use queue {', '.join(map(repr, denied))}")
