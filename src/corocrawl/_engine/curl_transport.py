"""The libcurl transport: pycurl's multi interface driven by the running event loop.

libcurl does the HTTP work in C (connections, TLS, HTTP/2, chunked bodies); the event loop
tells it which socket is ready (`add_reader`/`add_writer`) and when its timer is due, so there
is no thread and no polling loop. What stays in Python is what corocrawl promises on top:
redirects followed hop by hop (libcurl's own following is off), credentials kept to their
origin, the whole-fetch deadline, bodies decoded by `BodyDecoder` and counted against the cap
as they arrive (in the write callback: a compression bomb stops at the cap), and libcurl's
error codes translated into corocrawl's tree. What every transport promises is written in
`transport.py`.

libcurl's sockets are watched in an epoll set of their own (`SocketWatch`): one callback a
turn for every ready socket, and a kept-alive socket stays watched between two requests. The
whole-fetch deadline is libcurl's own timeout, set for each hop to the time that is left.
libcurl asks for a zero-length timer for every handle added: those are merged into one
callback per turn of the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pycurl
from yarl import URL

from .._config import FetchConfig
from .._exceptions import (
    BlockedURL,
    ConnectError,
    ConnectTimeout,
    DNSError,
    FetchError,
    FetchTimeout,
    ProtocolError,
    ProxyError,
    ReadError,
    ReadTimeout,
    ResponseTooLarge,
    TLSError,
    TooManyRedirects,
)
from .._models import Exchange
from .._urls import FETCHABLE_SCHEMES
from .addresses import is_public_address
from .decoding import ACCEPT_ENCODING, BodyDecoder
from .proxies import PROXY_AUTHENTICATION_REQUIRED, Proxy, ProxyRotation
from .socket_watch import ERROR, READ, WRITE, SocketWatch
from .transport import (
    REDIRECT_STATUSES,
    Credentials,
    Response,
    content_type_of,
    deadline_passed,
    redirect_target,
)

__all__ = ["CurlTransport"]

# Read from every response whatever the config records: what the transport itself needs.
_NEEDED = frozenset(
    {"location", "content-type", "content-encoding", "content-length", "retry-after"}
)
_HTTP_VERSIONS = {
    pycurl.CURL_HTTP_VERSION_1_0: "HTTP/1.0",
    pycurl.CURL_HTTP_VERSION_1_1: "HTTP/1.1",
    pycurl.CURL_HTTP_VERSION_2_0: "HTTP/2",
    pycurl.CURL_HTTP_VERSION_3: "HTTP/3",
}
_NO_VERIFY = (
    pycurl.SSL_VERIFYPEER,
    pycurl.SSL_VERIFYHOST,
    pycurl.PROXY_SSL_VERIFYPEER,
    pycurl.PROXY_SSL_VERIFYHOST,
)
_ASK_FOR = {
    "1.1": pycurl.CURL_HTTP_VERSION_1_1,
    "2": pycurl.CURL_HTTP_VERSION_2TLS,  # HTTP/2 where a TLS server offers it (ALPN)
    "3": pycurl.CURL_HTTP_VERSION_3,  # HTTP/3 tried first, the others if it fails
}
# libcurl's error codes (CURLcode) that pycurl names under other spellings, or not at all.
_WEIRD_SERVER_REPLY, _HTTP2_STREAM, _HTTP3, _QUIC_CONNECT, _TOO_LARGE = 8, 92, 95, 96, 100
# Through a proxy, these are the proxy's: it is down, unknown, or refused the request.
_PROXY_ERRORS = frozenset({pycurl.E_COULDNT_RESOLVE_PROXY, pycurl.E_COULDNT_CONNECT, 97})
_TLS_ERRORS = frozenset({35, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98})
# Of those, the server's certificate refused: not verified, its issuer, its pinned key, its status.
_CERTIFICATE_ERRORS = frozenset({60, 83, 90, 91})
_MASKS = {pycurl.POLL_IN: READ, pycurl.POLL_OUT: WRITE, pycurl.POLL_INOUT: READ | WRITE}
_HTTP1 = pycurl.CURL_HTTP_VERSION_1_1
_REMEMBERED_SERVERS = 100_000


class CurlTransport:
    """A Transport on one CurlMulti, the process's connection pool, driven by this loop.

    async with CurlTransport(FetchConfig()) as transport:
        response = await transport.fetch(URL("http://127.0.0.1:8080/"))
    """

    def __init__(self, config: FetchConfig) -> None:
        self._config = config
        self._keep_body = config.keep_body or config.save_bodies is not None
        self._follow = config.follow_redirects
        self._capture = config.keep_exchanges
        self._split = Credentials.of(config)
        others = list(self._split.others)
        names = {name.lower() for name, _ in config.headers}
        if "accept-encoding" not in names:
            others.append(("Accept-Encoding", ACCEPT_ENCODING))
        # As bytes: a value may be UTF-8 (aiohttp sends it so), which pycurl's str would refuse.
        self._headers = [f"{name}: {value}".encode() for name, value in others]
        self._credentials = [f"{name}: {value}".encode() for name, value in self._split.credentials]
        self._user_agent = config.user_agent.encode() if "user-agent" not in names else None
        # The headers read, by their lower-cased name as it comes on the wire.
        self._wanted = {
            name.encode("latin-1"): name for name in _NEEDED | frozenset(config.record_headers)
        }
        self._multi: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transfers: dict[Any, _Transfer] = {}
        self._idle: list[Any] = []  # easy handles to reuse (their options are set anew)
        self._timer: asyncio.TimerHandle | None = None
        self._soon = False  # one merged zero-length timer is pending
        self._sockets: SocketWatch | None = None
        # The read timeout is kept here: libcurl's own (LOW_SPEED_TIME) counts whole seconds,
        # and driven by socket_action it let a silent transfer run on while others were busy.
        self._read_timeout = config.timeouts.read
        self._silence_check: asyncio.TimerHandle | None = None
        self._tls: tuple[str | None, str | None] = (None, None)  # (CAINFO, CAPATH), once open
        self._made: Path | None = None  # a folder of files made for this transport
        self._http_version = _ASK_FOR[config.http_version]
        self._proxies = ProxyRotation(config.proxies) if config.proxies else None
        # Through a proxy, connections are the proxy's, shared by every server: not counted.
        self._busy = None if config.proxies else _BusyServers()

    async def __aenter__(self) -> CurlTransport:
        self._loop = asyncio.get_running_loop()
        if self._config.ca_bundle is not None:
            self._made = Path(tempfile.mkdtemp(prefix="corocrawl-"))
        # Reads and may write a file of authorities: off the event loop.
        self._tls = await asyncio.to_thread(_tls_files, self._config.ca_bundle, self._made)
        multi = self._multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        multi.setopt(pycurl.M_MAXCONNECTS, max(self._config.limits.concurrency, 16))
        self._sockets = SocketWatch(self._loop, self._on_ready)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._made is not None:
            shutil.rmtree(self._made, ignore_errors=True)
            self._made = None
        if self._silence_check is not None:
            self._silence_check.cancel()
            self._silence_check = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        multi, self._multi = self._multi, None
        if multi is None:
            return
        for handle, transfer in list(self._transfers.items()):
            multi.remove_handle(handle)
            handle.close()
            transfer.fail(FetchError("the transport was closed", url=transfer.url))
        self._transfers.clear()
        if self._sockets is not None:
            self._sockets.close()
            self._sockets = None
        multi.close()
        for handle in self._idle:
            handle.close()
        self._idle.clear()

    async def fetch(
        self,
        url: URL,
        *,
        max_bytes: int | None = None,
        truncate: bool = False,
        follow_redirects: bool | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Response:
        """Fetch `url` once, following redirects; see `Transport.fetch`."""
        follow = self._follow if follow_redirects is None else follow_redirects
        if self._multi is None:
            raise RuntimeError("the transport is not open: use 'async with'")
        total = self._config.timeouts.total
        ends = time.monotonic() + total
        slack = _deadline_slack(total)
        origin = url.origin() if self._credentials else None
        credentials = self._credentials if origin and self._split.go_to(origin) else []
        cap = self._config.limits.max_body_bytes if max_bytes is None else max_bytes
        keep = self._keep_body or truncate
        start = time.perf_counter()
        max_redirects = self._config.limits.max_redirects
        proxy = None if self._proxies is None else self._proxies.choose()
        exchanges: list[Exchange] = []
        # The call's own headers go with its first hop only.
        extra = [f"{name}: {value}".encode() for name, value in headers]
        try:
            for hop in range(max_redirects + 1):
                if url.scheme not in FETCHABLE_SCHEMES:
                    raise BlockedURL(f"refused scheme {url.scheme!r}", url=str(url))
                seconds_left = ends - time.monotonic()
                if seconds_left <= 0:
                    raise deadline_passed(total, url)
                transfer = _Transfer(str(url), cap, keep, truncate, self._wanted, proxy, follow)
                transfer.capture = self._capture
                transfer.deadline = ends - slack
                if self._busy is not None and (
                    url.scheme == "http" or self._http_version == _HTTP1
                ):
                    transfer.server = (url.raw_host, url.port)  # one transfer a connection
                try:
                    await self._start(transfer, credentials + extra, seconds_left)
                except asyncio.CancelledError:
                    self._cancel(transfer)  # broken off midway (a Ctrl-C, a stop)
                    raise
                if transfer.capture:
                    exchanges.append(transfer.exchange())
                location = transfer.headers.get("location")
                if transfer.status in REDIRECT_STATUSES and location and follow:
                    next_url = redirect_target(url, location)
                else:
                    elapsed = time.perf_counter() - start
                    return self._response(url, transfer, elapsed, hop, tuple(exchanges))
                if hop == max_redirects:
                    break
                if credentials and next_url.origin() != origin:
                    credentials = []
                extra = []
                url = next_url
        except FetchTimeout:
            if time.monotonic() < ends - slack:
                raise  # the connect or read timeout, before the deadline
            raise deadline_passed(total, url) from None
        raise TooManyRedirects(f"more than {max_redirects} redirects", url=str(url))

    def _start(
        self, transfer: _Transfer, credentials: list[bytes], seconds_left: float
    ) -> asyncio.Future[None]:
        """Start one request of one hop; its future ends when the transfer holds what came,
        or raises what went wrong."""
        if self._multi is None:  # closed while a fetch was between two hops
            raise FetchError("the transport was closed", url=transfer.url)
        handle = self._idle.pop() if self._idle else self._new_handle()
        handle.setopt(pycurl.URL, transfer.url)
        handle.setopt(
            pycurl.HTTPHEADER, self._headers + credentials if credentials else self._headers
        )
        handle.setopt(pycurl.TIMEOUT_MS, max(1, math.ceil(seconds_left * 1000)))
        handle.setopt(pycurl.WRITEFUNCTION, transfer.write)
        handle.setopt(pycurl.HEADERFUNCTION, transfer.header)
        if transfer.capture:
            handle.setopt(pycurl.DEBUGFUNCTION, transfer.debug)  # the request as sent
        if self._proxies is not None:
            handle.setopt(pycurl.PROXY, "" if transfer.proxy is None else transfer.proxy.url)
        if self._config.refuse_private:
            handle.setopt(pycurl.OPENSOCKETFUNCTION, transfer.open_public_socket)
        # Set every time: a reused handle keeps its options, and another server's choice.
        busy, server = self._busy, transfer.server
        handle.setopt(
            pycurl.FRESH_CONNECT, busy is not None and server is not None and busy.starting(server)
        )
        loop = self._loop
        assert loop is not None
        done = transfer.done = loop.create_future()
        transfer.handle = handle
        if self._read_timeout is not None and self._silence_check is None:
            self._silence_check = loop.call_later(self._silence_step(), self._end_silent)
        self._transfers[handle] = transfer
        self._multi.add_handle(handle)
        return done

    def _cancel(self, transfer: _Transfer) -> None:
        handle = transfer.handle
        # Only its own: once it has finished, its handle may carry another fetch's transfer.
        if self._transfers.get(handle) is transfer:
            self._take_back(handle, transfer)

    def _take_back(self, handle: Any, transfer: _Transfer) -> None:
        """Stop a transfer midway, and keep its handle for the next."""
        del self._transfers[handle]
        self._multi.remove_handle(handle)
        self._ended(transfer)
        self._idle.append(handle)

    def _new_handle(self) -> Any:
        """An easy handle with every option that is the same for all requests."""
        config = self._config
        timeouts = config.timeouts
        handle = pycurl.Curl()
        handle.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        # A proxy of the config's, or none: never the environment's (http_proxy), and no
        # exceptions from it either (no_proxy would send some hosts around --proxy).
        handle.setopt(pycurl.PROXY, "")
        handle.setopt(pycurl.NOPROXY, "")
        if self._user_agent is not None:
            handle.setopt(pycurl.USERAGENT, self._user_agent)
        handle.setopt(pycurl.NOSIGNAL, 1)
        if self._capture:
            handle.setopt(pycurl.VERBOSE, 1)  # to DEBUGFUNCTION: what was sent, for a WARC
        handle.setopt(pycurl.HTTP_VERSION, self._http_version)
        if self._http_version != _HTTP1:
            # Wait for a connection being opened to a server to say whether it multiplexes:
            # many requests to one HTTP/2 server then share a few connections (one TLS
            # handshake each) instead of opening one each. 10,000 at once over TLS: 45 s and
            # 58% failed on the connect timeout (handshakes queued for the CPU) -> 2.5 s.
            handle.setopt(pycurl.PIPEWAIT, 1)
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, round(timeouts.connect * 1000)))
        if not config.verify_tls:
            for option in _NO_VERIFY:
                handle.setopt(option, 0)
        cafile, capath = self._tls
        if cafile is not None:
            handle.setopt(pycurl.CAINFO, cafile)
            handle.setopt(pycurl.PROXY_CAINFO, cafile)  # an https:// proxy's certificate
        if capath is not None:
            handle.setopt(pycurl.CAPATH, capath)
            handle.setopt(pycurl.PROXY_CAPATH, capath)
        return handle

    def _response(
        self,
        url: URL,
        transfer: _Transfer,
        elapsed: float,
        redirects: int,
        exchanges: tuple[Exchange, ...],
    ) -> Response:
        headers = transfer.headers
        content_type, charset = content_type_of(headers.get("content-type"))
        return Response(
            url=url,
            status=transfer.status,
            headers={
                name: headers[name] for name in self._config.record_headers if name in headers
            },
            content_type=content_type,
            charset=charset,
            size=transfer.size,
            body=transfer.body(),
            ttfb=transfer.ttfb if transfer.ttfb is not None else elapsed,
            redirects=redirects,
            retry_after=headers.get("retry-after"),
            http_version=_HTTP_VERSIONS.get(transfer.http_version),
            proxy=None if transfer.proxy is None else transfer.proxy.shown,
            cut=transfer.cut,
            exchanges=exchanges,
        )

    def _silence_step(self) -> float:
        assert self._read_timeout is not None
        return min(1.0, max(0.02, self._read_timeout / 4))

    def _end_silent(self) -> None:
        """End every transfer the server has sent nothing for the read timeout (never early:
        at most a step late). Silence counts from when the request was sent, so the connect
        timeout alone bounds the connecting."""
        self._silence_check = None
        limit, loop = self._read_timeout, self._loop
        if limit is None or loop is None or self._multi is None or not self._transfers:
            return
        now = time.perf_counter()
        for handle, transfer in list(self._transfers.items()):
            if now - transfer.heard < limit:
                continue
            if not transfer.spoke:  # nothing received yet: silence from the request's sending
                sent = handle.getinfo(pycurl.PRETRANSFER_TIME)
                if not sent or now - (transfer.started + sent) < limit:
                    continue
            self._take_back(handle, transfer)
            transfer.fail(ReadTimeout(f"read timed out: nothing for {limit:g}s", url=transfer.url))
        if self._transfers:
            self._silence_check = loop.call_later(self._silence_step(), self._end_silent)

    def _ended(self, transfer: _Transfer) -> None:
        if transfer.server is not None and self._busy is not None:
            self._busy.ended(transfer.server)

    # libcurl's side: which sockets to watch, when to call it back, and what has finished.

    def _on_socket(self, what: int, fd: int, multi: Any, socketp: Any) -> None:
        sockets = self._sockets
        if sockets is None:  # closing: libcurl lets go of its sockets
            return
        if what == pycurl.POLL_REMOVE:
            sockets.put_down(fd)
        else:
            sockets.watch(fd, _MASKS[what])

    def _on_timer(self, milliseconds: int) -> None:
        loop = self._loop
        assert loop is not None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if milliseconds < 0:
            return
        if milliseconds == 0:
            if not self._soon:  # one call for all the handles added in this turn
                self._soon = True
                loop.call_soon(self._on_soon)
            return
        self._timer = loop.call_later(milliseconds / 1000, self._on_due)

    def _on_soon(self) -> None:
        self._soon = False
        self._act(pycurl.SOCKET_TIMEOUT, 0)

    def _on_due(self) -> None:
        self._timer = None
        self._act(pycurl.SOCKET_TIMEOUT, 0)

    def _on_ready(self, ready: list[tuple[int, int]]) -> None:
        multi = self._multi
        if multi is None:
            return
        for fd, events in ready:
            action = 0
            if events & (READ | ERROR):
                action |= pycurl.CSELECT_IN
            if events & (WRITE | ERROR):
                action |= pycurl.CSELECT_OUT
            self._act_on(multi, fd, action)
        self._collect()

    def _act(self, fd: int, events: int) -> None:
        multi = self._multi
        if multi is None:
            return
        self._act_on(multi, fd, events)
        self._collect()

    @staticmethod
    def _act_on(multi: Any, fd: int, events: int) -> None:
        with contextlib.suppress(pycurl.error):  # a transfer's own error comes in info_read
            multi.socket_action(fd, events)

    def _collect(self) -> None:
        multi = self._multi
        while True:
            queued, finished, failed = multi.info_read()
            for handle in finished:
                self._finish(handle, None, "")
            for handle, code, message in failed:
                self._finish(handle, code, message)
            if not queued:
                return

    def _finish(self, handle: Any, code: int | None, message: str) -> None:
        transfer = self._transfers.pop(handle, None)
        self._multi.remove_handle(handle)
        if transfer is None:
            return
        self._ended(transfer)
        self._idle.append(handle)  # its options stay: only the request's own are set anew
        if transfer.done is None or transfer.done.done():
            return
        try:
            self._settle(transfer, handle, code, message)
        except Exception as exc:  # a bug must cost this fetch, not the others of the batch
            transfer.fail(FetchError(f"unexpected {type(exc).__name__}: {exc}", url=transfer.url))

    def _settle(self, transfer: _Transfer, handle: Any, code: int | None, message: str) -> None:
        proxy, rotation = transfer.proxy, self._proxies
        if proxy is not None and transfer.status == PROXY_AUTHENTICATION_REQUIRED:
            code, message = 97, "407 Proxy Authentication Required"
        if code is None or transfer.cut:
            transfer.http_version = handle.getinfo(pycurl.INFO_HTTP_VERSION)
            if transfer.capture:
                transfer.address = handle.getinfo(pycurl.PRIMARY_IP) or None
            if proxy is not None and rotation is not None:
                rotation.succeeded(proxy)
            transfer.finish()
            return
        error = transfer.error or _translated(code, message, transfer)
        if isinstance(error, ProxyError) and proxy is not None and rotation is not None:
            rotation.failed(proxy)
        transfer.fail(error)


class _BusyServers:
    """Transfers in flight to each server, over connections that carry one at a time (HTTP/1).

    While as many are in flight to a server as ever were at once, every connection to it is
    busy: a new transfer there is told to open a connection (FRESH_CONNECT) instead of letting
    libcurl look through the busy ones first. That look costs each new transfer a step per
    connection to the server; with 10,000 requests in flight to one server it took half of
    the client's CPU."""

    def __init__(self) -> None:
        self._in_flight: dict[tuple[str | None, int | None], int] = {}
        self._most: dict[tuple[str | None, int | None], int] = {}

    def starting(self, server: tuple[str | None, int | None]) -> bool:
        """Count a transfer in; True if every connection to its server is busy."""
        before = self._in_flight.get(server, 0)
        self._in_flight[server] = before + 1
        most = self._most.get(server, 0)
        if before < most:
            return False
        # Idle servers are forgotten past a bound: at worst, one connection opened needlessly.
        if len(self._most) >= _REMEMBERED_SERVERS:
            self._most = {key: self._most[key] for key in self._in_flight if key in self._most}
        self._most[server] = before + 1
        return True

    def ended(self, server: tuple[str | None, int | None]) -> None:
        left = self._in_flight[server] - 1
        if left:
            self._in_flight[server] = left
        else:
            del self._in_flight[server]


class _Transfer:
    """One request of one hop: the callbacks libcurl calls with what comes, and what came."""

    __slots__ = (
        "address",
        "cap",
        "capture",
        "chunks",
        "cut",
        "deadline",
        "decoder",
        "done",
        "error",
        "follow",
        "handle",
        "headers",
        "heard",
        "http_version",
        "keep",
        "proxy",
        "raw_body",
        "raw_cut",
        "raw_head",
        "raw_request",
        "raw_size",
        "received",
        "redirecting",
        "refused",
        "sent_at",
        "server",
        "size",
        "spoke",
        "started",
        "status",
        "truncate",
        "ttfb",
        "url",
        "wanted",
    )  # fmt: skip

    def __init__(
        self,
        url: str,
        cap: int,
        keep: bool,
        truncate: bool,
        wanted: dict[bytes, str],
        proxy: Proxy | None = None,
        follow: bool = False,
    ) -> None:
        self.url = url
        self.proxy = proxy
        self.follow = follow  # a redirect will be followed: its body is not read into memory
        self.redirecting = False
        self.cap = cap
        self.keep = keep
        self.truncate = truncate
        self.wanted = wanted
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.received = 0
        self.decoder: BodyDecoder | None = None
        self.error: FetchError | None = None
        self.cut = False  # stopped at the cap on purpose (truncate)
        self.refused: str | None = None  # the address --refuse-private refused
        self.started = time.perf_counter()
        self.heard = self.started  # when the server last sent something (the read timeout's)
        self.spoke = False  # whether it has sent anything yet
        self.ttfb: float | None = None
        self.http_version = 0
        self.done: asyncio.Future[None] | None = None
        self.deadline = math.inf  # when the whole fetch's time is up (minus the clocks' slack)
        self.handle: Any = None
        self.server: tuple[str | None, int | None] | None = None  # counted in _BusyServers
        # With keep_exchanges: the hop as it went over the wire (see Exchange).
        self.capture = False
        self.sent_at = time.time()
        self.raw_request: list[bytes] = []
        self.raw_head: list[bytes] = []
        self.raw_body: list[bytes] = []
        self.raw_size = 0
        self.raw_cut = False
        self.address: str | None = None

    def header(self, line: bytes) -> int | None:
        """Take a header line; a return of 0 stops the transfer (libcurl's error 23)."""
        self.heard, self.spoke = time.perf_counter(), True
        if self.capture:
            if line.startswith(b"HTTP/"):  # a new response's (after a 100, say)
                self.raw_head = []
            if not self.raw_head or self.raw_head[-1] not in (b"\r\n", b"\n"):
                self.raw_head.append(line)  # not a chunked body's trailers: not in its head
        if line in (b"\r\n", b"\n"):  # the end of a response's headers
            if self.follow and self.status in REDIRECT_STATUSES and "location" in self.headers:
                self.redirecting = True  # its body is passed over, as aiohttp does
                return None
            announced = self.headers.get("content-length", "")
            if not self.truncate and announced.isdigit() and int(announced) > self.cap:
                self.error = ResponseTooLarge(
                    f"Content-Length {announced} is over the {self.cap}-byte cap", url=self.url
                )
                return 0
            return None
        if line.startswith(b"HTTP/"):  # a status line: a new response (after a 100, say)
            parts = line.split(None, 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            self.headers = {}
            if self.ttfb is None:
                self.ttfb = time.perf_counter() - self.started
            return None
        colon = line.find(b":")
        key = self.wanted.get(line[:colon].strip().lower()) if colon > 0 else None
        if key is not None:
            text = line[colon + 1 :].strip().decode("latin-1")
            known = self.headers.get(key)
            if known is None:
                self.headers[key] = text
            elif key == "content-encoding":  # every coding counts; of the rest, the first
                self.headers[key] = f"{known}, {text}"
        return None

    def write(self, data: bytes) -> int | None:
        """Take a piece of the body; a return of 0 stops the transfer (libcurl's error 23)."""
        self.heard = time.perf_counter()
        if self.capture:
            self._keep_raw(data)
        if self.redirecting:
            self.received += len(data)
            if self.received > self.cap:  # no endless redirect body: cut, and follow it
                self.cut = True
                return 0
            return None
        try:
            decoder = self.decoder
            self.received += len(data)
            if decoder is None and "content-encoding" not in self.headers:
                return self._take((data,))  # as sent: nothing to decode
            if self.received > self.cap:
                if self.truncate:
                    self.cut = True
                    return 0
                raise ResponseTooLarge(f"body is over the {self.cap}-byte cap", url=self.url)
            if decoder is None:
                decoder = self.decoder = BodyDecoder(
                    self.headers["content-encoding"], url=self.url, strict=200 <= self.status < 300
                )
            return self._take(decoder.feed(data))
        except FetchError as exc:
            self.error = exc
            return 0
        return None

    def debug(self, kind: int, data: bytes) -> None:
        """libcurl's verbose output: of it, the request's head as sent."""
        if kind == pycurl.INFOTYPE_HEADER_OUT and not data.startswith(b"CONNECT "):
            self.raw_request = [data]  # the request itself, not a proxy's CONNECT before it

    def _keep_raw(self, data: bytes) -> None:
        """Keep a piece as received, up to the cap (what is past it is marked cut)."""
        room = self.cap - self.raw_size
        if len(data) > room:
            self.raw_cut = True
            data = data[: max(room, 0)]
        if data:
            self.raw_body.append(data)
            self.raw_size += len(data)

    def exchange(self) -> Exchange:
        """The hop as it went over the wire, once: the pieces are let go (an idle handle
        keeps its transfer)."""
        exchange = Exchange(
            url=self.url,
            sent_at=self.sent_at,
            request=b"".join(self.raw_request),
            response=b"".join(self.raw_head),
            body=b"".join(self.raw_body),
            truncated=self.raw_cut or self.cut,
            address=self.address,
        )
        self.raw_request, self.raw_head, self.raw_body = [], [], []
        return exchange

    def _take(self, pieces: Iterable[bytes]) -> int | None:
        """Count and keep decoded pieces against the cap: past it, cut there or refused."""
        for piece in pieces:
            self.size += len(piece)
            if self.size > self.cap and self.truncate:
                self.chunks.append(piece[: len(piece) - (self.size - self.cap)])
                self.size = self.cap
                self.cut = True
                return 0
            if self.size > self.cap:
                raise ResponseTooLarge(
                    f"body is over the {self.cap}-byte cap"
                    + (" after decompression" if self.decoder is not None else ""),
                    url=self.url,
                )
            if self.keep:
                self.chunks.append(piece)
        return None

    def body(self) -> bytes | None:
        """The body kept, once: the pieces are let go (an idle handle keeps its transfer)."""
        if not self.keep:
            return None
        body = b"".join(self.chunks)
        self.chunks = []
        return body

    def finish(self) -> None:
        try:
            if self.redirecting or self.cut:
                pass
            elif self.decoder is not None:
                self.decoder.finish()
            elif "content-encoding" in self.headers:  # no body came: the header alone is read
                BodyDecoder(self.headers["content-encoding"], url=self.url, strict=False)
        except FetchError as exc:
            self.fail(exc)
            return
        assert self.done is not None
        self.done.set_result(None)

    def fail(self, error: FetchError) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(error)

    def open_public_socket(self, purpose: int, address: Any) -> Any:
        """libcurl's socket(2): refused for an address --refuse-private does not allow."""
        host = address.addr[0]
        if not is_public_address(host):
            self.refused = host
            return pycurl.SOCKET_BAD
        self.refused = None  # another address of the name, allowed: connected to that one
        return socket.socket(address.family, address.socktype, address.protocol)


def _translated(code: int, message: str, transfer: _Transfer) -> FetchError:
    """The corocrawl error for a libcurl error code, most specific first."""
    url = transfer.url
    proxy = transfer.proxy
    if code == pycurl.E_OPERATION_TIMEDOUT and time.monotonic() >= transfer.deadline:
        # The whole fetch's time is up (whichever step libcurl was at, a proxy's CONNECT too).
        return FetchTimeout(message, url=url)
    if proxy is not None and (
        code in _PROXY_ERRORS or "CONNECT" in message or "proxy" in message.lower()
    ):
        password = URL(proxy.url).password
        if password:
            message = message.replace(password, "***")
        return ProxyError(f"proxy {proxy.shown}: {message}", url=url, proxy=proxy.shown)
    if transfer.refused is not None:
        return BlockedURL(
            f"{transfer.refused} is not a public address (refused by --refuse-private)", url=url
        )
    if code == pycurl.E_COULDNT_RESOLVE_HOST:
        return DNSError(f"DNS lookup failed: {message}", url=url)
    if code == pycurl.E_OPERATION_TIMEDOUT:
        if "Connection timed out" in message or "Resolving timed out" in message:
            return ConnectTimeout(f"connect timed out: {message}", url=url)
        return FetchTimeout(message, url=url)
    if code == pycurl.E_COULDNT_CONNECT:
        return ConnectError(f"cannot connect: {message}", url=url)
    if code in _TLS_ERRORS:
        return TLSError(f"TLS: {message}", url=url, certificate=code in _CERTIFICATE_ERRORS)
    announced = transfer.headers.get("content-length", "")
    if code == pycurl.E_PARTIAL_FILE and announced.isdigit():
        return ReadError(
            f"body broken off: received {transfer.received} of {announced} bytes", url=url
        )
    if code in (pycurl.E_PARTIAL_FILE, pycurl.E_RECV_ERROR, pycurl.E_SEND_ERROR):
        return ReadError(f"body broken off: {message}", url=url)
    if code == pycurl.E_GOT_NOTHING:
        return ReadError(f"server disconnected: {message}", url=url)
    if code in (pycurl.E_UNSUPPORTED_PROTOCOL, pycurl.E_URL_MALFORMAT):
        return BlockedURL(f"invalid URL: {message}", url=url)
    if code in (
        _WEIRD_SERVER_REPLY,
        pycurl.E_HTTP2,
        _HTTP2_STREAM,
        _HTTP3,
        _QUIC_CONNECT,
        _TOO_LARGE,
    ):
        return ProtocolError(f"bad response: {message}", url=url)
    return ReadError(f"libcurl error {code}: {message}", url=url)


def _deadline_slack(total: float) -> float:
    """How far apart libcurl's clock (CLOCK_MONOTONIC_RAW) and Python's may drift over a fetch:
    a timeout this close to the deadline is the deadline's."""
    return max(0.05, total / 100)


def _tls_files(ca_bundle: Path | None, folder: Path | None) -> tuple[str | None, str | None]:
    """(CAINFO, CAPATH): the system's trusted authorities, as OpenSSL finds them here (the
    wheel's libcurl was built for another system's paths), and `ca_bundle`'s besides, in one
    file written to `folder` where the system has a file of them.

    A file alone is best: libcurl keeps the authorities it read from a file for every
    connection, but reads them anew for each one when a directory is named too; and a
    directory of them serves only where it is hashed (Debian's is, RHEL's is not)."""
    paths = ssl.get_default_verify_paths()
    system_file = next(
        (path for path in (paths.cafile, paths.openssl_cafile) if path and Path(path).is_file()),
        None,
    )
    system_dir = next(
        (path for path in (paths.capath, paths.openssl_capath) if path and Path(path).is_dir()),
        None,
    )
    if ca_bundle is not None:
        if system_file is None or folder is None:
            return str(ca_bundle), system_dir
        both = folder / "ca-bundle.pem"
        both.write_bytes(Path(system_file).read_bytes() + b"\n" + ca_bundle.read_bytes())
        return str(both), None
    return (system_file, None) if system_file is not None else (None, system_dir)
