"""The curl transport's connections and handles: connections kept alive and reused, opened
only when all are busy; a handle given back is never touched by the fetch that gave it back.

The server is a few lines of asyncio that answer HTTP/1.1 keep-alive requests and count the
connections they come over: what a client reuses is seen at the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from yarl import URL

import corocrawl
from corocrawl._engine.curl_transport import CurlTransport, _Transfer
from corocrawl.testing._tls import make_server_certificate


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
async def _keep_alive_server(tls: ssl.SSLContext | None = None) -> AsyncIterator[_KeepAliveServer]:
    server = _KeepAliveServer()
    listening = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=tls)
    port = listening.sockets[0].getsockname()[1]
    server.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
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


async def test_a_connection_is_reused_on_a_handle_that_last_opened_one_fresh(
    tmp_path: Path,
) -> None:
    """A handle's options outlive its request: the first request to a server opens a fresh
    connection, and the next request on that handle, to an HTTPS server, must not."""
    made = make_server_certificate(tmp_path, ["127.0.0.1"])
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(made.chain, made.key)
    config = corocrawl.FetchConfig(transport="curl", ca_bundle=made.ca)
    async with _keep_alive_server(tls) as secure, CurlTransport(config) as transport:
        for n in range(4):
            async with _keep_alive_server() as plain:  # a new server: its first connection
                await transport.fetch(URL(plain.url))
            assert (await transport.fetch(URL(f"{secure.url}?n={n}"))).status == 200
    assert secure.connections == 1


async def test_a_fetch_cancelled_after_its_handle_went_to_another_leaves_that_one_alone() -> None:
    """A hop that has finished gives its handle back at once; if its fetch is then cancelled
    before it resumes, the fetch that took the handle must go on to its answer."""
    async with _keep_alive_server() as server:
        config = corocrawl.FetchConfig(transport="curl", timeouts=corocrawl.Timeouts(total=5))
        async with CurlTransport(config) as transport:
            first = asyncio.create_task(transport.fetch(URL(f"{server.url}?n=1")))
            # Polled turn by turn: the moment sought lies between two turns of the loop.
            while not transport._idle:  # noqa: ASYNC110  (finished, handle given back, not resumed)
                await asyncio.sleep(0)
            # The next fetch's first hop starts in this same turn and takes the given-back handle.
            second = _Transfer(f"{server.url}?n=2", 1000, False, False, transport._wanted)
            hop = transport._start(second, [], 5.0)
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
            async with asyncio.timeout(3):
                await hop
            assert second.status == 200


async def test_a_hop_started_after_the_transport_closed_is_a_fetch_error() -> None:
    """A fetch between two redirect hops when the transport closes ends with an error record,
    not an AttributeError from a pool that is gone."""
    async with CurlTransport(corocrawl.FetchConfig(transport="curl")) as transport:
        wanted = transport._wanted
    hop = _Transfer("http://127.0.0.1:9/", 1000, False, False, wanted)
    with pytest.raises(corocrawl.FetchError, match="the transport was closed"):
        transport._start(hop, [], 5.0)
