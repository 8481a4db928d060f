"""The bundled test server: an aiohttp.web app whose routes behave, and misbehave, on purpose."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import gzip
import html
import math
import ssl
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from corocrawl.testing._articles import article_page
from corocrawl.testing._changing import changing_page
from corocrawl.testing._config import ServerConfig
from corocrawl.testing._site import render_site_page
from corocrawl.testing._sitemaps import render_sitemap
from corocrawl.testing._traps import render_trap_page

HELLO = "Hello!"
MAX_DELAY_SECONDS = 600.0
MAX_BYTES = 1 << 30
MAX_ENCODED_BYTES = 64 << 20  # built in memory
MAX_LINKS = 10_000_000
MAX_DRIP_BYTES = 1 << 20
MAX_GZIP_BOMB_MEGABYTES = 4096
MAX_TRACKED_KEYS = 100_000
LIMITED_PAGES = 2_000
BIG_LENGTH = 10 * (1 << 30)
RESET_LENGTH = 100_000

_MEBIBYTE = 1 << 20
_PATTERN_CHUNK = bytes(range(256)) * 256  # 64 KiB; a multiple of 256, so every chunk lines up
_TRUNCATED_BODY = b"this body stops long before its Content-Length\n"
_BAD_UTF8_HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Bad charset \xff\xfe</title></head>\n"
    b"<body><p>Invalid UTF-8: \xc3\x28 \xa0\xa1 \xe2\x28\xa1 \xf0\x28\x8c\xbc</p></body></html>\n"
)
_NO_BODY_STATUSES = frozenset({204, 304})
_HANG_POLL_SECONDS = 1.0
_SHUTDOWN_TIMEOUT_SECONDS = 1.0
_DEFAULT_BACKLOG = 4096
_SOMAXCONN_PATH = Path("/proc/sys/net/core/somaxconn")


class _RequestStats:
    """Counters behind /stats; the per-key dicts are bounded so a long crawl cannot bloat them."""

    __slots__ = (
        "by_path",
        "in_flight",
        "in_flight_by_host",
        "last_start_by_host",
        "min_gap_by_host",
        "peak_in_flight",
        "peak_in_flight_by_host",
        "requests",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.in_flight_by_host: dict[str, int] = {}
        self.peak_in_flight_by_host: dict[str, int] = {}
        self.by_path: dict[str, int] = {}
        # For politeness checks: the shortest time between two requests starting on one host.
        self.last_start_by_host: dict[str, float] = {}
        self.min_gap_by_host: dict[str, float] = {}

    def enter(self, host: str, path: str) -> None:
        self.requests += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        if path in self.by_path or len(self.by_path) < MAX_TRACKED_KEYS:
            self.by_path[path] = self.by_path.get(path, 0) + 1
        host_in_flight = self.in_flight_by_host.get(host, 0) + 1
        self.in_flight_by_host[host] = host_in_flight
        self._raise_host_peak(host, host_in_flight)
        self._note_start(host, time.monotonic())

    def leave(self, host: str) -> None:
        self.in_flight -= 1
        remaining = self.in_flight_by_host[host] - 1
        if remaining:
            self.in_flight_by_host[host] = remaining
        else:
            del self.in_flight_by_host[host]

    def reset(self) -> None:
        """Zero the counters; a peak restarts from what is in flight right now."""
        self.requests = 0
        self.peak_in_flight = self.in_flight
        self.by_path = {}
        self.peak_in_flight_by_host = {}
        self.last_start_by_host = {}
        self.min_gap_by_host = {}
        for host, count in self.in_flight_by_host.items():
            self._raise_host_peak(host, count)

    def snapshot(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "peak_in_flight_by_host": dict(self.peak_in_flight_by_host),
            "by_path": dict(self.by_path),
            "min_gap_by_host": dict(self.min_gap_by_host),
        }

    def _note_start(self, host: str, now: float) -> None:
        last = self.last_start_by_host.get(host)
        if last is not None:
            gap = now - last
            self.min_gap_by_host[host] = min(self.min_gap_by_host.get(host, gap), gap)
        if last is not None or len(self.last_start_by_host) < MAX_TRACKED_KEYS:
            self.last_start_by_host[host] = now

    def _raise_host_peak(self, host: str, count: int) -> None:
        peaks = self.peak_in_flight_by_host
        if host in peaks:
            peaks[host] = max(peaks[host], count)
        elif len(peaks) < MAX_TRACKED_KEYS:
            peaks[host] = count


def _is_stats_path(path: str) -> bool:
    return path == "/stats" or path.startswith("/stats/")


def _stats_middleware(stats: _RequestStats) -> Middleware:
    @web.middleware
    async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _is_stats_path(request.path):
            return await handler(request)
        host = request.headers.get(hdrs.HOST, "")
        stats.enter(host, request.path)
        try:
            return await handler(request)
        finally:
            # Also runs when the handler is cancelled because the client went away.
            stats.leave(host)

    return count_requests


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=f"400 Bad Request: {message}\n")


def _parse_int(text: str, name: str, *, minimum: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _bad_request(f"{name} must be an integer, got {text!r}") from None
    if value < minimum:
        raise _bad_request(f"{name} must be >= {minimum}, got {value}")
    return value


def _parse_seconds(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _bad_request(f"{name} must be a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise _bad_request(f"{name} must be a finite number >= 0, got {text!r}")
    return min(value, MAX_DELAY_SECONDS)


def _header_value(text: str, name: str) -> str:
    if "\r" in text or "\n" in text:
        raise _bad_request(f"{name} must not contain line breaks")
    return text


def _retry_after_headers(request: web.Request) -> dict[str, str]:
    retry_after = request.query.get("retry_after")
    if retry_after is None:
        return {}
    # Passed through verbatim so clients can be tested with dates and junk as well as seconds.
    return {hdrs.RETRY_AFTER: _header_value(retry_after, "retry_after")}


def _hello() -> web.Response:
    return web.Response(text=HELLO)


def _redirect(location: str, status: int = 302) -> web.Response:
    # Built by hand because web.HTTPFound would normalise the Location through yarl.
    return web.Response(status=status, headers={hdrs.LOCATION: location}, text=f"-> {location}\n")


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _abort_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _send_truncated_body(request: web.Request, claimed_length: int) -> web.StreamResponse:
    response = web.StreamResponse()
    response.content_type = "application/octet-stream"
    response.content_length = claimed_length
    await response.prepare(request)
    await response.write(_TRUNCATED_BODY)
    _abort_connection(request)
    return response


@functools.lru_cache(maxsize=16)
def gzip_bomb_body(megabytes: int) -> bytes:
    """A gzip member that inflates to `megabytes` MiB of zeros, about 1 KiB per MiB on the wire.

    After a full flush deflate keeps no history, so every MiB of zeros compresses to the same
    bytes: compress one MiB once and repeat it instead of deflating gigabytes.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(_MEBIBYTE)
    one_mebibyte = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    deflated = one_mebibyte * megabytes + compressor.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip, deflate, no name, no mtime
    trailer = struct.pack("<II", crc, (megabytes * _MEBIBYTE) & 0xFFFFFFFF)
    return header + deflated + trailer


def encoded_body(length: int, codings: list[str], mtime: float = 0) -> bytes:
    """`length` pattern bytes with each coding applied in turn; ``claim-X``, or a name that is
    not gzip, deflate or raw-deflate, is applied as nothing (the header lies). Gzip's header
    carries `mtime`."""
    repeats, rest = divmod(length, len(_PATTERN_CHUNK))
    body = _PATTERN_CHUNK * repeats + _PATTERN_CHUNK[:rest]
    for coding in codings:
        if coding == "gzip":
            body = gzip.compress(body, mtime=mtime)
        elif coding == "deflate":
            body = zlib.compress(body)
        elif coding == "raw-deflate":
            compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            body = compressor.compress(body) + compressor.flush()
    return body


@functools.lru_cache(maxsize=4)
def link_bomb_html(count: int) -> bytes:
    """A page that is nothing but `count` distinct links, about 15 bytes each."""
    return b"<title>links</title>" + "".join(f"<a href=/{i}>{i}</a>" for i in range(count)).encode()


def _coding_label(coding: str) -> str:
    """What Content-Encoding says of a coding applied by `encoded_body`."""
    return "deflate" if coding == "raw-deflate" else coding.removeprefix("claim-")


class _RateLimit:
    """A sliding one-second window of admitted requests, and a bounded log of every request
    as [seconds since the first, status]."""

    def __init__(self) -> None:
        self.admitted: collections.deque[float] = collections.deque()
        self.log: list[tuple[float, int]] = []
        self._first: float | None = None

    def admit(self, rate: int, now: float) -> bool:
        if self._first is None:
            self._first = now
        admitted = self.admitted
        while admitted and admitted[0] <= now - 1.0:
            admitted.popleft()
        allowed = len(admitted) < rate
        if allowed:
            admitted.append(now)
        if len(self.log) < MAX_TRACKED_KEYS:
            self.log.append((round(now - self._first, 4), 200 if allowed else 429))
        return allowed


class _Endpoints:
    """The route handlers, sharing the config and the per-app state."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.stats = _RequestStats()
        self._flaky_requests: dict[str, int] = {}
        self._limited: dict[str, _RateLimit] = {}
        self.generation = 0  # of the /changing/ site

    async def root(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.config.delay)
        return _hello()

    async def delay(self, request: web.Request) -> web.Response:
        await asyncio.sleep(_parse_seconds(request.match_info["seconds"], "seconds"))
        return _hello()

    async def status(self, request: web.Request) -> web.Response:
        code = _parse_int(request.match_info["code"], "status code", minimum=100)
        if code > 599:
            raise _bad_request(f"status code must be in 100..599, got {code}")
        headers = _retry_after_headers(request)
        if 300 <= code < 400:
            headers[hdrs.LOCATION] = "/"
        text = None if code < 200 or code in _NO_BODY_STATUSES else f"Status {code}\n"
        return web.Response(status=code, headers=headers, text=text)

    async def bytes_(self, request: web.Request) -> web.StreamResponse:
        length = min(_parse_int(request.match_info["n"], "n"), MAX_BYTES)
        response = web.StreamResponse()
        response.content_type = "application/octet-stream"
        if "chunked" in request.query:
            response.enable_chunked_encoding()
        else:
            response.content_length = length
        await response.prepare(request)
        full_chunks, rest = divmod(length, len(_PATTERN_CHUNK))
        for _ in range(full_chunks):
            await response.write(_PATTERN_CHUNK)
        await response.write(_PATTERN_CHUNK[:rest])
        return response

    async def redirect(self, request: web.Request) -> web.Response:
        remaining = _parse_int(request.match_info["n"], "n")
        if remaining == 0:
            return _hello()
        return _redirect(f"/redirect/{remaining - 1}")

    async def redirect_to(self, request: web.Request) -> web.Response:
        url = request.query.get("url")
        if url is None:
            raise _bad_request("the url query parameter is required")
        status = _parse_int(request.query.get("status", "302"), "status", minimum=300)
        if status > 399:
            raise _bad_request(f"status must be a redirect (300..399), got {status}")
        return _redirect(_header_value(url, "url"), status)

    async def redirect_loop(self, request: web.Request) -> web.Response:
        return _redirect("/redirect-loop")

    async def headers(self, request: web.Request) -> web.Response:
        echoed: dict[str, str] = {}
        for name, value in request.headers.items():
            echoed[name] = f"{echoed[name]}, {value}" if name in echoed else value
        return web.json_response(echoed)

    async def flaky(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        failures = _parse_int(request.match_info["n"], "n")
        seen = self._count_flaky_request(key)
        if seen <= failures:
            return web.Response(
                status=503, headers=_retry_after_headers(request), text="Service Unavailable\n"
            )
        return _hello()

    def _count_flaky_request(self, key: str) -> int:
        seen = self._flaky_requests.pop(key, 0) + 1
        if len(self._flaky_requests) >= MAX_TRACKED_KEYS:
            del self._flaky_requests[next(iter(self._flaky_requests))]  # forget the oldest key
        self._flaky_requests[key] = seen  # re-inserted last, so the dict stays in LRU order
        return seen

    async def drip(self, request: web.Request) -> web.StreamResponse:
        length = min(_parse_int(request.query.get("bytes", "10"), "bytes"), MAX_DRIP_BYTES)
        interval = _parse_seconds(request.query.get("interval", "0.1"), "interval")
        response = web.StreamResponse()
        response.content_type = "application/octet-stream"
        response.content_length = length
        await response.prepare(request)
        for index in range(length):
            if index:
                await asyncio.sleep(interval)
            await response.write(b"*")
        return response

    async def hang(self, request: web.Request) -> web.StreamResponse:
        # run_server cancels handlers when their client disconnects; polling also frees this
        # handler when the app runs under another runner that does not.
        while not _client_gone(request):  # noqa: ASYNC110 - nothing to wait on but the transport
            await asyncio.sleep(_HANG_POLL_SECONDS)
        return web.Response(status=499)

    async def reset(self, request: web.Request) -> web.StreamResponse:
        return await _send_truncated_body(request, RESET_LENGTH)

    async def big_length(self, request: web.Request) -> web.StreamResponse:
        return await _send_truncated_body(request, BIG_LENGTH)

    async def gzip_bomb(self, request: web.Request) -> web.Response:
        megabytes = min(
            _parse_int(request.match_info["megabytes"], "megabytes"), MAX_GZIP_BOMB_MEGABYTES
        )
        # Off the event loop: the largest bomb takes about a second to checksum.
        body = await asyncio.to_thread(gzip_bomb_body, megabytes)
        return web.Response(
            body=body, content_type="text/html", headers={hdrs.CONTENT_ENCODING: "gzip"}
        )

    async def encoded(self, request: web.Request) -> web.Response:
        codings = [coding for coding in request.match_info["codings"].split(",") if coding]
        length = min(_parse_int(request.query.get("bytes", "1024000"), "bytes"), MAX_ENCODED_BYTES)
        # ?mtime=now: gzip's header says when, as a server compressing each time does.
        mtime = time.time() if request.query.get("mtime") == "now" else 0
        body = await asyncio.to_thread(encoded_body, length, codings, mtime)
        if "cut" in request.query:
            body = body[: _parse_int(request.query["cut"], "cut")]
        labels = [_coding_label(coding) for coding in codings]
        # ?lines=1: one Content-Encoding header line for each coding, as HTTP allows.
        lines = labels if request.query.get("lines") == "1" else [", ".join(labels)]
        response = web.Response(body=body, content_type="application/octet-stream")
        for line in lines:
            response.headers.add(hdrs.CONTENT_ENCODING, line)
        return response

    async def bad_charset(self, request: web.Request) -> web.Response:
        return web.Response(
            body=_BAD_UTF8_HTML, headers={hdrs.CONTENT_TYPE: "text/html; charset=utf-8"}
        )

    async def site_page(self, request: web.Request) -> web.Response:
        config = self.config
        page = int(request.match_info["page"])
        if page >= config.site_pages:
            raise web.HTTPNotFound(text=f"404: the site has {config.site_pages} pages\n")
        # A page never changes while the server runs: its ETag names the site and the page,
        # and a recrawl that sends it back gets a 304.
        etag = f'"site-{config.site_pages}-{config.site_links}-{config.site_page_bytes}-{page}"'
        if request.headers.get(hdrs.IF_NONE_MATCH) == etag:
            return web.Response(status=304, headers={hdrs.ETAG: etag})
        html = render_site_page(page, config.site_pages, config.site_links, config.site_page_bytes)
        return web.Response(text=html, content_type="text/html", headers={hdrs.ETAG: etag})

    async def trap(self, request: web.Request) -> web.Response:
        html = render_trap_page(request.match_info["tail"], dict(request.query))
        if html is None:
            raise web.HTTPNotFound(text="404: no such page among the traps\n")
        return web.Response(text=html, content_type="text/html")

    async def limited(self, request: web.Request) -> web.Response:
        """A site of LIMITED_PAGES pages (each links to the next five) that answers 429 to
        requests past `rate` a second (over the last second), with Retry-After: 1 when asked
        (`?retry_after=1`). `/limited-log/{key}` lists what it saw."""
        key = request.match_info["key"]
        rate = _parse_int(request.match_info["rate"], "rate", minimum=1)
        page = _parse_int(request.match_info["page"], "page")
        limit = self._limited.get(key)
        if limit is None:
            if len(self._limited) >= MAX_TRACKED_KEYS:
                del self._limited[next(iter(self._limited))]
            limit = self._limited[key] = _RateLimit()
        if not limit.admit(rate, time.monotonic()):
            headers = {hdrs.RETRY_AFTER: "1"} if request.query.get("retry_after") == "1" else {}
            return web.Response(status=429, headers=headers, text="Too Many Requests\n")
        if page >= LIMITED_PAGES:
            raise web.HTTPNotFound()
        query = f"?{request.query_string}" if request.query_string else ""
        links = "".join(
            f'<a href="/limited/{key}/{rate}/{target}{query}">{target}</a>\n'
            for target in range(page * 5 + 1, min(page * 5 + 6, LIMITED_PAGES))
        )
        return web.Response(
            text=f"<html><head><title>{page}</title></head><body>{links}</body></html>",
            content_type="text/html",
        )

    async def limited_log(self, request: web.Request) -> web.Response:
        limit = self._limited.get(request.match_info["key"])
        return web.json_response([] if limit is None else limit.log)

    async def sitemap(self, request: web.Request) -> web.Response:
        """The sitemap site (see testing/_sitemaps.py)."""
        origin = f"{request.scheme}://{request.host}"
        rendered = render_sitemap(request.path, dict(request.query), origin)
        if rendered is None:
            raise web.HTTPNotFound()
        body, content_type = rendered
        return web.Response(body=body, content_type=content_type)

    async def changing(self, request: web.Request) -> web.Response:
        """The site that changes on a schedule (see testing/_changing.py)."""
        if request.path == "/changing/generation":
            return web.json_response({"generation": self.generation})
        headers = {name.lower(): value for name, value in request.headers.items()}
        page = changing_page(request.path, dict(request.query), headers, self.generation)
        if page is None:
            raise web.HTTPNotFound()
        if page.status == 304:
            return web.Response(status=304, headers=page.headers)
        return web.Response(text=page.body, headers=page.headers, content_type="text/html")

    async def changing_next(self, request: web.Request) -> web.Response:
        self.generation += 1
        return web.json_response({"generation": self.generation})

    async def directives(self, request: web.Request) -> web.Response:
        """A page with the robots directives and canonical link its query asks for: `meta`
        (meta robots), `header` (X-Robots-Tag), `canonical`; it links to /bytes/11, and to
        /bytes/12 with rel="nofollow"."""
        query = request.query
        head = ""
        if "meta" in query:
            head += f'<meta name="robots" content="{html.escape(query["meta"])}">'
        if "canonical" in query:
            head += f'<link rel="canonical" href="{html.escape(query["canonical"])}">'
        body = '<a href="/bytes/11">followed</a> <a rel="nofollow" href="/bytes/12">nofollow</a>'
        headers = (
            {"X-Robots-Tag": _header_value(query["header"], "header")} if "header" in query else {}
        )
        return web.Response(
            text=f"<html><head><title>directives</title>{head}</head><body>{body}</body></html>",
            content_type="text/html",
            headers=headers,
        )

    async def links(self, request: web.Request) -> web.Response:
        count = min(_parse_int(request.match_info["n"], "n"), MAX_LINKS)
        html = await asyncio.to_thread(link_bomb_html, count)
        return web.Response(body=html, content_type="text/html", charset="utf-8")

    async def articles(self, request: web.Request) -> web.Response:
        """The news site of testing/_articles.py."""
        page = article_page(request.match_info["name"])
        if page is None:
            raise web.HTTPNotFound()
        body, content_type = page
        return web.Response(body=body, content_type=content_type, charset="utf-8")

    async def site_style(self, request: web.Request) -> web.Response:
        return web.Response(text="body { font-family: sans-serif }\n", content_type="text/css")

    async def robots_txt(self, request: web.Request) -> web.Response:
        if self.config.robots_redirect is not None:
            raise web.HTTPMovedPermanently(location=self.config.robots_redirect)
        return await self.robots_moved(request)

    async def robots_moved(self, request: web.Request) -> web.Response:
        if self.config.robots_status is not None:
            return web.Response(status=self.config.robots_status, text="robots.txt failing\n")
        if self.config.robots_txt is None:
            raise web.HTTPNotFound(text="404: no robots.txt configured\n")
        return web.Response(text=self.config.robots_txt)

    async def stats_snapshot(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.snapshot())

    async def stats_reset(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return web.json_response(self.stats.snapshot())


def make_app(config: ServerConfig) -> web.Application:
    """Build the test server's aiohttp application (see the package docs for the routes)."""
    endpoints = _Endpoints(config)
    app = web.Application(middlewares=[_stats_middleware(endpoints.stats)])
    get_routes: list[tuple[str, Handler]] = [
        ("/", endpoints.root),
        ("/delay/{seconds}", endpoints.delay),
        ("/status/{code}", endpoints.status),
        ("/bytes/{n}", endpoints.bytes_),
        ("/redirect/{n}", endpoints.redirect),
        ("/redirect-to", endpoints.redirect_to),
        ("/redirect-loop", endpoints.redirect_loop),
        ("/headers", endpoints.headers),
        ("/flaky/{key}/{n}", endpoints.flaky),
        ("/drip", endpoints.drip),
        ("/hang", endpoints.hang),
        ("/reset", endpoints.reset),
        ("/gzip-bomb/{megabytes}", endpoints.gzip_bomb),
        ("/big-length", endpoints.big_length),
        ("/encoded/{codings}", endpoints.encoded),
        ("/bad-charset", endpoints.bad_charset),
        ("/site/{page:[0-9]+}", endpoints.site_page),
        ("/site/style.css", endpoints.site_style),
        ("/links/{n}", endpoints.links),  # anything else under /site is a 404
        ("/trap/{tail:.*}", endpoints.trap),
        ("/directives", endpoints.directives),
        ("/sitemaps/{tail:.*}", endpoints.sitemap),
        ("/sitemap.xml", endpoints.sitemap),
        ("/changing/{tail:.*}", endpoints.changing),
        ("/articles/{name:.*}", endpoints.articles),
        ("/limited/{key}/{rate}/{page}", endpoints.limited),
        ("/limited-log/{key}", endpoints.limited_log),
        ("/robots.txt", endpoints.robots_txt),
        ("/robots-moved.txt", endpoints.robots_moved),
        ("/stats", endpoints.stats_snapshot),
        ("/stats/reset", endpoints.stats_reset),
    ]
    for path, handler in get_routes:
        app.router.add_get(path, handler)
    app.router.add_post("/stats/reset", endpoints.stats_reset)
    app.router.add_post("/changing/next", endpoints.changing_next)
    return app


def _raise_open_files_limit() -> None:
    try:
        import resource
    except ImportError:  # Windows has no rlimits
        return
    with contextlib.suppress(ValueError, OSError):
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _listen_backlog() -> int:
    # Thousands of clients connect at once; a short accept queue would drop their SYNs.
    try:
        return int(_SOMAXCONN_PATH.read_text().strip())
    except (OSError, ValueError):
        return _DEFAULT_BACKLOG


def _base_url(host: str, port: int, *, tls: bool) -> str:
    url_host = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{url_host}:{port}"


def _tls_context(config: ServerConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


async def run_server(config: ServerConfig, *, ready: Callable[[str], None] | None = None) -> None:
    """Serve the test app until cancelled; `ready` gets the base URL once it is listening."""
    _raise_open_files_limit()
    runner = web.AppRunner(
        make_app(config),
        access_log=None,  # logging costs too much at thousands of requests per second
        handler_cancellation=True,  # free handlers (e.g. /hang) whose client disconnected
        shutdown_timeout=_SHUTDOWN_TIMEOUT_SECONDS,
    )
    tls = _tls_context(config)
    await runner.setup()
    try:
        site = web.TCPSite(
            runner, config.host, config.port, backlog=_listen_backlog(), ssl_context=tls
        )
        await site.start()
        port = runner.addresses[0][1]
        for host in config.also_listen:
            await web.TCPSite(
                runner, host, port, backlog=_listen_backlog(), ssl_context=tls
            ).start()
        if ready is not None:
            ready(_base_url(config.host, port, tls=tls is not None))
        await asyncio.get_running_loop().create_future()  # serve until cancelled
    finally:
        await runner.cleanup()
