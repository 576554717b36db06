"""Redis Streams dispatch with Postgres as the arbiter (see ``broker.py``)."""

from quorra.broker.redis.broker import RedisBroker
from quorra.broker.redis.client import connect
from quorra.broker.redis.index import RedisIndex

__all__ = ["RedisBroker", "RedisIndex", "connect"]
