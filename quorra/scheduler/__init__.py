"""Housekeeping on APScheduler 3.11: the lease reaper, gauge refresh, retention, count folding
and whatever chores the composition root adds (Redis repair sweep and reclaim, dispatch
liveness, throughput sampling, cron schedules)."""

from quorra.scheduler.housekeeping import Housekeeping

__all__ = ["Housekeeping"]
