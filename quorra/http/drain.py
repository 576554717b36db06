"""Read the rest of a refused request body before answering, so the client can read the answer.

A server that answers ``413`` (or any error) while the client is still sending, then closes,
makes the client's next write fail with a reset: clients that send the whole body before they
read (Python's ``urllib``, many HTTP/1.1 libraries) see ``Connection reset by peer`` instead of
the ``413``. This wrapper sits outside the application: when a response starts before the body
was read to its end, it reads and discards the rest first — up to ``limit`` bytes and
``seconds``; past either the connection is closed as before (nobody streams gigabytes at us).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

__all__ = ["DrainRefusedBody"]


class DrainRefusedBody:
    def __init__(self, app: ASGIApp, *, limit: int = 64 << 20, seconds: float = 30.0) -> None:
        self.app = app
        self.limit = limit
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        body = _Body(receive)

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start" and not body.ended:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.seconds):
                        await body.discard(self.limit)
            await send(message)

        await self.app(scope, body.receive, answer)


class _Body:
    """The request's ``receive``, noting whether the body was read to its end."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.ended = False

    async def receive(self) -> ReceiveMessage:
        message = await self._receive()
        self._note(message)
        return message

    def _note(self, message: Any) -> None:
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.ended = True  # the last chunk, or a disconnect

    async def discard(self, limit: int) -> None:
        read = 0
        while not self.ended and read <= limit:
            message: Any = await self.receive()
            read += len(message.get("body", b""))
