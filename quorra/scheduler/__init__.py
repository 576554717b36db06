"""Housekeeping: the lease reaper, gauge refresh and (later) sweeps, on APScheduler 3.11."""

from quorra.scheduler.housekeeping import Housekeeping

__all__ = ["Housekeeping"]
