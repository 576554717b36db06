"""Every Prometheus metric Quorra exports, declared once, with GoQuorra's names."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from quorra.core import tasks
from quorra.core.jobs import JobStatus, QueueCount
from quorra.core.limits import QueueLimits
from quorra.worker_directory import WorkerDirectory

__all__ = ["DISPATCH_MODES", "OTHER_QUEUES", "Metrics", "counter_total"]

disable_created_metrics()  # type: ignore[no-untyped-call] # counters expose only *_total, as GoQuorra did

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                    60, 300)
_LIFETIME_BUCKETS = (*_LATENCY_BUCKETS, 900, 3600, 4 * 3600, 24 * 3600)

DISPATCH_MODES = ("postgres", "redis", "rebuilding")
OTHER_QUEUES = "_other"  # the label of queues past the cap (no queue name starts with "_")


def counter_total(counter: Counter) -> float:
    """The sum of a labelled counter over all its label values."""
    return sum(sample.value for metric in counter.collect() for sample in metric.samples
               if sample.name.endswith("_total"))


class Metrics:
    """``max_queues`` bounds the ``queue`` label: the first queues seen keep their name, later
    ones are counted under ``_other`` (every new queue name must not become series forever)."""

    def __init__(self, registry: CollectorRegistry, max_queues: int = 100) -> None:
        self.registry = registry
        self.max_queues = max_queues
        self._labelled: set[str] = set()
        self.auth_failures = Counter(
            "quorra_auth_failures_total",
            "Refused requests by front door (rest, grpc, dashboard) and reason (missing_key, "
            "invalid_key, throttled, denied).", ["door", "reason"], registry=registry)
        self.created = Counter("quorra_jobs_created_total", "Jobs enqueued (committed).",
                               ["queue"], registry=registry)
        self.deduplicated = Counter(
            "quorra_jobs_deduplicated_total",
            "Enqueues answered with the job holding their unique key (nothing stored).",
            ["queue"], registry=registry)
        self.processed = Counter("quorra_jobs_processed_total", "Jobs that succeeded.",
                                 ["queue"], registry=registry)
        self.failed = Counter("quorra_jobs_failed_total",
                              "Failed attempts (nacks, failed acks, expired leases).",
                              ["queue"], registry=registry)
        self.dead = Counter("quorra_jobs_dead_total", "Jobs moved to the dead-letter state.",
                            ["queue"], registry=registry)
        self.leased = Counter("quorra_jobs_leased_total", "Leases granted.", ["queue"],
                              registry=registry)
        self.cancelled = Counter("quorra_jobs_cancelled_total",
                                 "Jobs cancelled (pending or running; repeats not counted).",
                                 ["queue"], registry=registry)
        self.unblocked = Counter(
            "quorra_jobs_unblocked_total",
            "Blocked jobs made pending by the success of their last unfinished parent.",
            ["queue"], registry=registry)
        self.queue_length = Gauge("quorra_job_queue_length",
                                  "Jobs by queue and status, read from the store.",
                                  ["queue", "status"], registry=registry)
        self.wait_seconds = Histogram(
            "quorra_job_wait_seconds",
            "Enqueue-to-start latency: from when a job became ready (enqueued, or due after a "
            "delay or backoff) to its lease.", ["queue"], buckets=_LATENCY_BUCKETS,
            registry=registry)
        self.run_seconds = Histogram("quorra_job_run_seconds",
                                     "Run duration: from lease to ack or nack.", ["queue"],
                                     buckets=_LATENCY_BUCKETS, registry=registry)
        self.leases_in_flight = Gauge("quorra_leases_in_flight",
                                      "Jobs leased and not yet settled, read from the store.",
                                      registry=registry)
        self.workers_connected = Gauge("quorra_workers_connected",
                                       "Workers connected to this server replica.",
                                       registry=registry)
        self.dispatch_mode = Gauge("quorra_dispatch_mode",
                                   "1 for the dispatch mode in force, 0 for the others.",
                                   ["mode"], registry=registry)
        self.dispatch_stalled = Gauge(
            "quorra_dispatch_stalled",
            "1 while a worker with free slots has waited past the liveness threshold although "
            "its queues held ready jobs (dispatch is stuck: /healthz fails), else 0.",
            registry=registry)
        self.deleted = Counter("quorra_jobs_deleted_total",
                               "Finished jobs deleted by retention, by their status.",
                               ["status"], registry=registry)
        self.queue_paused = Gauge("quorra_queue_paused",
                                  "1 while the queue is paused (no leases), 0 once resumed; read "
                                  "from the store.", ["queue"], registry=registry)
        self.queue_limit = Gauge("quorra_queue_limit",
                                 "A queue's limit, read from the store: kind max_concurrency "
                                 "(jobs leased at once) or rate_per_second (leases per second).",
                                 ["queue", "kind"], registry=registry)
        self._limited_seen: set[str] = set()
        self.task_failures = _TaskFailures(registry)
        self._queues_seen: set[str] = set()
        self._declare_signals(registry)

    def auth_failed(self, door: str, reason: str) -> None:
        """A refused request (never labelled with the key)."""
        self.auth_failures.labels(door, reason).inc()

    def _declare_signals(self, registry: CollectorRegistry) -> None:
        """What operators alert on: expiries, redeliveries, refusals, mode changes, lifetimes."""
        self.lease_expiries = Counter(
            "quorra_lease_expiries_total",
            "Leases that expired unsettled (each also counts as a failed attempt).", ["queue"],
            registry=registry)
        self.xautoclaim_expiries = Counter(
            "quorra_lease_expiries_xautoclaim_total",
            "Stream leases (QUORRA_REDIS_LEASES=stream) that XAUTOCLAIM took back from the "
            "consumer group's pending list after their deadline (also counted in "
            "quorra_lease_expiries_total).", ["queue"], registry=registry)
        self.timed_out = Counter(
            "quorra_jobs_timed_out_total",
            "Leases that ran to their job's deadline (timeout_seconds) unsettled: failed "
            "attempts with last_error 'timed out' (also counted as lease expiries).", ["queue"],
            registry=registry)
        self.redelivered = Counter(
            "quorra_jobs_redelivered_total",
            "Leases of a job that was leased before (a retry after a failed attempt or an "
            "expired lease).", ["queue"], registry=registry)
        self.settlements_refused = Counter(
            "quorra_settlements_refused_total",
            "Acks, nacks and extensions refused: unknown job, or a wrong, expired or already "
            "settled lease (nothing changed).", ["op"], registry=registry)
        self.mode_changes = Counter(
            "quorra_dispatch_mode_changes_total",
            "Dispatch mode switches of this replica, by the mode entered.", ["mode"],
            registry=registry)
        self.redis_rebuilds = Counter(
            "quorra_redis_rebuilds_total",
            "Rebuilds of the Redis dispatch index from PostgreSQL (at start, after Redis came "
            "back, or after its dataset changed).", registry=registry)
        self.leases_lost_with_redis = Counter(
            "quorra_leases_lost_with_redis_total",
            "Stream leases PostgreSQL had not recorded yet when Redis was rebuilt (emptied, "
            "replaced, or back after an outage): their jobs may run again (an upper bound on "
            "such duplicate runs). Always 0 with grant leases.", registry=registry)
        self.redis_config_ok = Gauge(
            "quorra_redis_config_ok",
            "1 while Redis is configured as Quorra needs, 0 with a warning (see /readyz): "
            "check=maxmemory_policy (noeviction; any other or an unknown policy may evict "
            "leases), check=aof (AOF on; required with stream leases only).", ["check"],
            registry=registry)
        self.schedule_ticks = Counter(
            "quorra_schedule_ticks_total",
            "Cron schedule ticks that enqueued their job (one per tick across replicas).",
            registry=registry)
        self.end_to_end_seconds = Histogram(
            "quorra_job_end_to_end_seconds",
            "Enqueue to final state (succeeded or dead), retries and backoff included.",
            ["queue", "status"], buckets=_LIFETIME_BUCKETS, registry=registry)

    def set_dispatch_mode(self, mode: str) -> None:
        """The hook for whoever switches dispatch (``postgres``, ``redis``, ``rebuilding``)."""
        for known in {*DISPATCH_MODES, mode}:
            self.dispatch_mode.labels(known).set(1 if known == mode else 0)

    def leases_lost(self, count: int) -> None:
        self.leases_lost_with_redis.inc(count)

    def expired_in_redis(self, queue: str, count: int) -> None:
        self.xautoclaim_expiries.labels(self.queue(queue)).inc(count)

    def mode_changed(self, mode: str) -> None:
        """Every later switch: the gauge, the switch counter and, entering ``rebuilding``, the
        rebuild counter."""
        self.set_dispatch_mode(mode)
        self.mode_changes.labels(mode).inc()
        if mode == "rebuilding":
            self.redis_rebuilds.inc()

    def set_redis_config(self, checks: Mapping[str, bool]) -> None:
        """The hook for the Redis configuration check: each check's verdict."""
        for check, ok in checks.items():
            self.redis_config_ok.labels(check).set(1 if ok else 0)

    def jobs_unblocked(self, jobs: Iterable[tuple[object, str]]) -> None:
        """``(job id, queue)`` of jobs a parent's success made pending on this replica."""
        for _, queue in jobs:
            self.unblocked.labels(self.queue(queue)).inc()

    def watch_workers(self, directory: WorkerDirectory) -> None:
        self.workers_connected.set_function(lambda: len(directory.snapshot()))

    def queue(self, name: str) -> str:
        """The ``queue`` label value for a queue: its name, or ``_other`` past the cap."""
        if name in self._labelled:
            return name
        if len(self._labelled) < self.max_queues:
            self._labelled.add(name)
            return name
        return OTHER_QUEUES

    def set_queue_counts(self, counts: Iterable[QueueCount]) -> None:
        """Set the queue gauges from store counts; a status that emptied reads 0, not stale, and
        a queue with no jobs left loses its series."""
        by_key: dict[tuple[str, JobStatus], int] = collections.Counter()
        for count in counts:
            by_key[(self.queue(count.queue), count.status)] += count.count
        present = {queue for queue, _ in by_key}
        for queue in self._queues_seen - present:
            for status in JobStatus:
                self.queue_length.remove(queue, status.value)
        self._queues_seen = present
        for queue in present:
            for status in JobStatus:
                self.queue_length.labels(queue, status.value).set(by_key.get((queue, status), 0))
        self.leases_in_flight.set(sum(n for (_, s), n in by_key.items() if s is JobStatus.LEASED))


    def set_paused(self, states: Iterable[tuple[str, bool]]) -> None:
        """Set ``quorra_queue_paused`` from the store's pause flags (queues past the label cap
        read 1 under ``_other`` if any of them is paused)."""
        by_label: dict[str, bool] = {}
        for queue, paused in states:
            label = self.queue(queue)
            by_label[label] = by_label.get(label, False) or paused
        for label, paused in by_label.items():
            self.queue_paused.labels(label).set(1 if paused else 0)

    def set_limits(self, limits: dict[str, QueueLimits], *, every: bool = False) -> None:
        """Set ``quorra_queue_limit`` for these queues; with ``every`` (the store's full list),
        queues no longer limited lose their series."""
        shown: set[str] = set()
        for queue, limit in limits.items():
            label = self.queue(queue)
            for kind, value in (("max_concurrency", limit.max_concurrency),
                                ("rate_per_second", _per_second(limit))):
                if value is None:
                    with contextlib.suppress(KeyError):
                        self.queue_limit.remove(label, kind)
                else:
                    self.queue_limit.labels(label, kind).set(value)
                    shown.add(label)
        if every:
            for label in self._limited_seen - shown:
                for kind in ("max_concurrency", "rate_per_second"):
                    with contextlib.suppress(KeyError):
                        self.queue_limit.remove(label, kind)
            self._limited_seen = shown
        else:
            self._limited_seen |= shown


def _per_second(limits: QueueLimits) -> float | None:
    if limits.rate_limit is None or not limits.rate_period:
        return None
    return limits.rate_limit / limits.rate_period


class _TaskFailures(Collector):
    """``quorra_background_task_failures_total{task}``: background tasks that failed (each was
    logged at ERROR and restarted, or ended its owner)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        registry.register(self)

    def collect(self) -> Iterable[CounterMetricFamily]:
        family = CounterMetricFamily(
            "quorra_background_task_failures", "Background tasks that failed (logged at ERROR, "
            "then restarted or their owner ended).", labels=["task"])
        for name, count in sorted(tasks.FAILURES.items()):
            family.add_metric([name], count)
        yield family
