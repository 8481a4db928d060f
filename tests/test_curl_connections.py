"""The curl transport's connections: kept alive and reused, opened only when all are busy.

The server is a few lines of asyncio that answer HTTP/1.1 keep-alive requests and count the
connections they come over: what a client reuses is seen at the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import corocrawl


class _KeepAliveServer:
    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                self.requests += 1
                await asyncio.sleep(0.002)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def _keep_alive_server() -> AsyncIterator[_KeepAliveServer]:
    server = _KeepAliveServer()
    listening = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}/"
    async with listening:
        yield server


async def _fetch(urls: list[str], concurrency: int) -> list[corocrawl.FetchResult]:
    config = corocrawl.FetchConfig(
        transport="curl", limits=corocrawl.Limits(concurrency=concurrency, per_host=concurrency)
    )
    async with contextlib.aclosing(corocrawl.fetch(urls, config)) as results:
        return [result async for result in results]


async def test_connections_are_kept_alive_and_reused_across_requests() -> None:
    async with _keep_alive_server() as server:
        results = await _fetch([f"{server.url}?n={n}" for n in range(300)], concurrency=4)
    assert [result.status for result in results] == [200] * 300
    assert server.requests == 300
    assert server.connections <= 4


async def test_requests_all_in_flight_get_a_connection_each_then_reuse_them() -> None:
    """All busy: each new transfer opens a connection (without libcurl searching the busy
    ones); later requests, once some have finished, reuse them."""
    async with _keep_alive_server() as server:
        results = await _fetch([f"{server.url}?n={n}" for n in range(400)], concurrency=100)
    assert all(result.status == 200 for result in results)
    assert len(results) == 400
    assert server.connections <= 100
