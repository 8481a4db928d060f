"""Messages between the coordinator and its worker processes: length-prefixed pickles.

Both ends are our own processes on one machine (a Unix socket in a private directory), so
pickle is safe here and carries results, requests and exceptions as they are.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

__all__ = ["encode", "receive"]

_LENGTH = struct.Struct("!I")


def encode(message: tuple[Any, ...]) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


async def receive(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    """The next message; asyncio.IncompleteReadError when the other end has gone."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    message: tuple[Any, ...] = pickle.loads(await reader.readexactly(length))
    return message
