"""Restarts of PostgreSQL and Redis under load, against real processes (``scenario.py``), shared
by the restart tests and ``bench/restart_stall.py``."""
