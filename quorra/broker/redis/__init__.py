"""Redis Streams dispatch with Postgres as the arbiter (see ``broker.py``)."""

from quorra.broker.redis.broker import RedisBroker
from quorra.broker.redis.client import connect
from quorra.broker.redis.index import RedisIndex, recorded_lease_mode
from quorra.broker.redis.stream_broker import StreamBroker
from quorra.broker.redis.stream_index import StreamIndex

__all__ = ["RedisBroker", "RedisIndex", "StreamBroker", "StreamIndex", "connect",
           "recorded_lease_mode"]
