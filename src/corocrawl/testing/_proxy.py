"""Small proxies for tests, on loopback: HTTP (CONNECT tunnels and absolute-form requests) and
SOCKS5 (RFC 1928, with RFC 1929 user/password), each counting what went through it.

They run an event loop of their own in a thread, so a test can start one, point a corocrawl
process at it, and then check at the proxy that the requests really went through it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import struct
import threading
from collections import Counter

from corocrawl.testing._running import Running

__all__ = ["TestProxy"]

_TIMEOUT = 30.0


class TestProxy(Running):
    """A proxy on 127.0.0.1 (`kind` "http" or "socks5"), optionally asking for a user and
    password; `targets` counts the host:port each connection or request was sent on to.

    with TestProxy("socks5", credentials=("user", "secret")) as proxy:
        ...  # fetch through proxy.url
        assert proxy.targets[f"127.0.0.1:{port}"] > 0
    """

    __test__ = False  # not a test class, whatever its name says to pytest

    def __init__(self, kind: str, *, credentials: tuple[str, str] | None = None) -> None:
        if kind not in ("http", "socks5"):
            raise ValueError(f"kind must be 'http' or 'socks5', got {kind!r}")
        self.kind = kind
        self.credentials = credentials
        self.targets: Counter[str] = Counter()
        self.refused = 0  # clients that gave no or wrong credentials
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        # The connections' tasks, held: a task waiting on a connection that only a garbage
        # cycle still refers to is collected while pending ("Task was destroyed").
        self._serving: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        )
        self._server = started.result(timeout=10)
        port = self._server.sockets[0].getsockname()[1]
        user = ""
        if self.credentials is not None:
            user = f"{self.credentials[0]}:{self.credentials[1]}@"
        self.url = f"{self.kind}://{user}127.0.0.1:{port}"

    def stop(self) -> None:
        if self._loop.is_closed():  # stopped already
            return
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._shut_down(), self._loop).result(timeout=10)
            self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            # What the loop's last turns started (a connection accepted as the server
            # closed) ends here, as asyncio.run ends a program's tasks before closing.
            self._loop.run_until_complete(_end_tasks())
        self._loop.close()

    async def _shut_down(self) -> None:
        """Stop listening, and end the connections still open."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        await _end_tasks()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        try:
            if self.kind == "http":
                await self._http(reader, writer)
            else:
                await self._socks5(reader, writer)
        finally:
            self._serving.discard(task)

    # HTTP: CONNECT host:port (a tunnel), or GET http://host/path (one request, forwarded).

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, version = request_line.split(" ", 2)
            if not self._http_authorized(header_lines):
                self.refused += 1
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
                )
                await writer.drain()
                return
            if method == "CONNECT":
                host, port = _split_host_port(target, 443)
                upstream = await asyncio.open_connection(host, port)
                self.targets[f"{host}:{port}"] += 1
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await _pipe_both(reader, writer, *upstream)
                return
            await self._forward(method, target, version, header_lines, reader, writer)
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _forward(
        self,
        method: str,
        target: str,
        version: str,
        header_lines: list[str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """One request in absolute form, sent on with `Connection: close`, its answer back."""
        if not target.startswith("http://"):
            raise ValueError(f"not an absolute http URL: {target}")
        authority, _, path = target.removeprefix("http://").partition("/")
        host, port = _split_host_port(authority, 80)
        kept = [
            line
            for line in header_lines
            if line and line.split(":", 1)[0].lower() not in ("proxy-authorization", "connection")
        ]
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        try:
            self.targets[f"{host}:{port}"] += 1
            head = "\r\n".join([f"{method} /{path} {version}", *kept, "Connection: close", "", ""])
            upstream_writer.write(head.encode("latin-1"))
            await upstream_writer.drain()
            with contextlib.suppress(OSError):
                while data := await upstream_reader.read(65536):
                    writer.write(data)
                    await writer.drain()
        finally:
            upstream_writer.close()

    def _http_authorized(self, header_lines: list[str]) -> bool:
        if self.credentials is None:
            return True
        expected = base64.b64encode(":".join(self.credentials).encode()).decode()
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "proxy-authorization":
                return value.strip() == f"Basic {expected}"
        return False

    # SOCKS5: a greeting, user/password if asked, then CONNECT to an address or a name.

    async def _socks5(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_TIMEOUT):
                version, count = await reader.readexactly(2)
                methods = await reader.readexactly(count)
                wanted = 0x02 if self.credentials is not None else 0x00
                if version != 5 or wanted not in methods:
                    self.refused += 1
                    writer.write(b"\x05\xff")
                    return
                writer.write(bytes([5, wanted]))
                if wanted == 0x02 and not await self._socks5_authorized(reader, writer):
                    self.refused += 1
                    return
                _, command, _, kind = await reader.readexactly(4)
                host = await _socks5_address(reader, kind)
                (port,) = struct.unpack("!H", await reader.readexactly(2))
            if command != 1:  # CONNECT only
                writer.write(b"\x05\x07\x00\x01" + bytes(6))
                return
            try:
                upstream = await asyncio.open_connection(host, port)
            except OSError:
                writer.write(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
                return
            self.targets[f"{host}:{port}"] += 1
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await _pipe_both(reader, writer, *upstream)
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _socks5_authorized(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        _, user_length = await reader.readexactly(2)
        user = (await reader.readexactly(user_length)).decode()
        (password_length,) = await reader.readexactly(1)
        password = (await reader.readexactly(password_length)).decode()
        ok = (user, password) == self.credentials
        writer.write(b"\x01\x00" if ok else b"\x01\x01")
        return ok


async def _socks5_address(reader: asyncio.StreamReader, kind: int) -> str:
    if kind == 1:
        return str(ipaddress.IPv4Address(await reader.readexactly(4)))
    if kind == 3:
        (length,) = await reader.readexactly(1)
        return (await reader.readexactly(length)).decode("idna")
    if kind == 4:
        return str(ipaddress.IPv6Address(await reader.readexactly(16)))
    raise ValueError(f"unknown SOCKS5 address type {kind}")


def _split_host_port(authority: str, default_port: int) -> tuple[str, int]:
    host, colon, port = authority.rpartition(":")
    if not colon or "]" in port:
        return authority.strip("[]"), default_port
    return host.strip("[]"), int(port)


async def _end_tasks() -> None:
    """Cancel the loop's other tasks until a pause finds none left: a connection accepted
    just before the close starts its task a turn of the loop later, and a closed one lets go
    of its socket a turn later too. Either left when the loop closes is a ResourceWarning."""
    while True:
        await asyncio.sleep(0.05)
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if not others:
            return
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        with contextlib.suppress(OSError):
            sink.write_eof()

    try:
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
    finally:
        upstream_writer.close()
