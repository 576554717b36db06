"""Postgres-only dispatch: ``FOR UPDATE SKIP LOCKED`` leasing and LISTEN/NOTIFY wake-ups."""

from quorra.broker.postgres.broker import PostgresBroker

__all__ = ["PostgresBroker"]
