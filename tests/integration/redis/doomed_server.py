"""A server process that reads proposals from Redis and then hangs before granting them, so a
test can SIGKILL it between read and grant: ``python -m tests.integration.redis.doomed_server``."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from quorra.broker.redis import RedisBroker
from tests.integration.redis.lessee import open_broker


async def _main(db: str, redis_url: str, want: int) -> None:
    async with open_broker(db, redis_url) as broker:
        assert isinstance(broker, RedisBroker)

        async def hang(*_: Any) -> list[Any]:
            print("read", flush=True)  # the proposals are in this server's pending list now
            await asyncio.Event().wait()
            return []

        # a stand-in that never answers (its signature is not the method's)
        broker._grant = hang  # type: ignore[method-assign, assignment]
        await broker.lease(["default"], worker_id="doomed", limit=want, ttl=30)


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
