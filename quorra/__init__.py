"""Quorra: a distributed job queue server. Redis speed with Postgres truth."""

__all__ = ["__version__"]

__version__ = "0.1.0"
