"""Every Prometheus metric Quorra exports, declared once, with GoQuorra's names."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

__all__ = ["Metrics"]

disable_created_metrics()  # type: ignore[no-untyped-call] # counters expose only *_total, as GoQuorra did

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                    60, 300)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.created = Counter("quorra_jobs_created_total", "Jobs enqueued (committed).",
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
        self.queue_length = Gauge("quorra_job_queue_length", "Jobs by queue and status.",
                                  ["queue", "status"], registry=registry)
        self.wait_seconds = Histogram("quorra_job_wait_seconds",
                                      "Time from run_at (ready) to lease.", ["queue"],
                                      buckets=_LATENCY_BUCKETS, registry=registry)
        self.dispatch_mode = Gauge("quorra_dispatch_mode",
                                   "1 for the dispatch mode this server is in (redis, postgres, "
                                   "rebuilding), else 0.", ["mode"], registry=registry)
        self.run_seconds = Histogram("quorra_job_run_seconds",
                                     "Time from lease to ack or nack.", ["queue"],
                                     buckets=_LATENCY_BUCKETS, registry=registry)
