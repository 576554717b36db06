"""Typed reads of gRPC streams in tests: the stubs type ``read()`` as ``object`` (end or reply)."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

__all__ = ["next_message"]

M = TypeVar("M", bound=Message)


Stream = grpc.aio.UnaryStreamCall[Any, Any] | grpc.aio.StreamStreamCall[Any, Any]


async def next_message(call: Stream, kind: type[M], timeout: float = 5.0) -> M:
    """The stream's next message, within ``timeout``: a ``kind``, not the end of the stream."""
    message = await asyncio.wait_for(call.read(), timeout)
    assert isinstance(message, kind), f"expected a {kind.__name__}, got {message!r}"
    return message
