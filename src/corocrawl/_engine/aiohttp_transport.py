"""The aiohttp transport: redirects hop by hop, deadlines, and a decompressed-size cap.

This is the only module that uses aiohttp's client, and the one place its errors are
translated into corocrawl's tree. Redirects are followed here rather than by aiohttp so that
every hop is checked like a new URL and counted. What every transport promises is written in
`transport.py`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._config import FetchConfig
from .._exceptions import (
    BlockedURL,
    ConnectError,
    ConnectTimeout,
    DNSError,
    FetchError,
    ProtocolError,
    ProxyError,
    ReadError,
    ReadTimeout,
    ResponseTooLarge,
    TLSError,
    TooManyRedirects,
)
from .._models import Exchange
from .addresses import NonPublicAddress, is_public_address
from .deadlines import Deadlines
from .decoding import ACCEPT_ENCODING, BodyDecoder
from .proxies import PROXY_AUTHENTICATION_REQUIRED, Proxy, ProxyRotation
from .transport import (
    REDIRECT_STATUSES,
    Credentials,
    Response,
    deadline_passed,
    redirect_target,
)

__all__ = ["AiohttpTransport"]

_CHUNK = 64 * 1024
_HTTP_VERSIONS = {aiohttp.HttpVersion11: "HTTP/1.1", aiohttp.HttpVersion10: "HTTP/1.0"}


class AiohttpTransport:
    """A Transport on one aiohttp session, the process's connection pool.

    async with AiohttpTransport(FetchConfig()) as transport:
        response = await transport.fetch(URL("http://127.0.0.1:8080/"))
    """

    def __init__(self, config: FetchConfig) -> None:
        self._config = config
        self._keep_body = config.keep_body or config.save_bodies is not None
        self._follow = config.follow_redirects
        # The headers other than credentials are the session's defaults, which aiohttp merges
        # more cheaply; credentials are given per request, where they may go.
        self._split = Credentials.of(config)
        self._headers = CIMultiDict(self._split.others)
        self._headers.setdefault("User-Agent", config.user_agent)
        self._headers.setdefault("Accept-Encoding", ACCEPT_ENCODING)
        self._credentials = CIMultiDict(self._split.credentials)
        self._proxies = ProxyRotation(config.proxies) if config.proxies else None
        self._session: aiohttp.ClientSession | None = None
        self._deadlines: Deadlines | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AiohttpTransport:
        timeouts = self._config.timeouts
        connector = aiohttp.TCPConnector(
            limit=self._config.limits.concurrency,
            limit_per_host=0,
            ttl_dns_cache=300,
            resolver=PublicOnlyResolver() if self._config.refuse_private else None,
            ssl=_tls_context(self._config.ca_bundle) if self._config.verify_tls else False,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=timeouts.connect, sock_read=timeouts.read
            ),
            headers=self._headers,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # decoded by BodyDecoder: whole, or an error
            trust_env=False,
        )
        total = self._config.timeouts.total
        self._deadlines = Deadlines(resolution=min(0.1, max(0.01, total / 20)))
        self._ticker = asyncio.create_task(self._deadlines.run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = self._deadlines = None
        if self._session is not None:
            await self._session.close()
            self._session = None

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
        session, deadlines = self._session, self._deadlines
        if session is None or deadlines is None:
            raise RuntimeError("the transport is not open: use 'async with'")
        deadline = deadlines.watch(self._config.timeouts.total)
        # One coroutine for every hop: each extra await level costs on every resume.
        origin = url.origin()
        credentials = self._credentials if self._split.go_to(origin) else None
        start = time.perf_counter()
        max_redirects = self._config.limits.max_redirects
        proxy = None if self._proxies is None else self._proxies.choose()
        proxy_url, proxy_auth = _proxy_and_auth(proxy)
        exchanges: list[Exchange] | None = [] if self._config.keep_exchanges else None
        cap = self._config.limits.max_body_bytes if max_bytes is None else max_bytes
        sent = _joined(credentials, headers) if headers else credentials
        try:
            for hop in range(max_redirects + 1):
                if self._config.refuse_private:
                    _refuse_non_public_literal(url)
                sent_at = time.time()
                try:
                    async with session.get(
                        url,
                        headers=sent,
                        allow_redirects=False,
                        max_redirects=0,
                        proxy=proxy_url,
                        proxy_auth=proxy_auth,
                    ) as resp:
                        ttfb = time.perf_counter() - start
                        address = None if exchanges is None else _peer_address(resp)
                        location = resp.headers.get("Location")
                        if resp.status in REDIRECT_STATUSES and location and follow:
                            next_url = redirect_target(url, location)
                            if exchanges is not None:
                                raw, cut = await _read_raw(resp, cap)
                                exchanges.append(_exchange(resp, sent_at, raw, cut, address))
                        else:
                            if proxy is not None and resp.status == PROXY_AUTHENTICATION_REQUIRED:
                                raise aiohttp.ClientHttpProxyError(
                                    resp.request_info, (), status=resp.status,
                                    message="407 Proxy Authentication Required",
                                )  # fmt: skip
                            pieces: list[bytes] | None = None if exchanges is None else []
                            body, size, cut = await self._read_body(
                                resp, url, cap, truncate, pieces
                            )
                            if proxy is not None and self._proxies is not None:
                                self._proxies.succeeded(proxy)
                            response = self._response(resp, url, body, size, ttfb, hop)
                            response.proxy = None if proxy is None else proxy.shown
                            response.cut = cut
                            if exchanges is not None and pieces is not None:
                                whole = b"".join(pieces)
                                exchange = _exchange(resp, sent_at, whole, cut, address)
                                exchanges.append(exchange)
                                response.exchanges = tuple(exchanges)
                            return response
                except FetchError:
                    raise
                except (aiohttp.ClientConnectorError, aiohttp.ClientHttpProxyError) as exc:
                    # Through a proxy, a connection that fails (its name, its port) is the
                    # proxy's; a certificate that fails is the site's, through the tunnel.
                    tls = isinstance(
                        exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError
                    )
                    if proxy is None or self._proxies is None or tls:
                        raise _translated(exc, url) from exc
                    self._proxies.failed(proxy)
                    reason = exc.message if isinstance(exc, aiohttp.ClientResponseError) else exc
                    raise ProxyError(
                        f"proxy {proxy.shown}: {reason}", url=str(url), proxy=proxy.shown
                    ) from None
                except (aiohttp.ClientError, OSError, ValueError) as exc:
                    raise _translated(exc, url) from exc
                if hop == max_redirects:
                    break
                if credentials is not None and next_url.origin() != origin:
                    credentials = None
                sent = credentials  # the call's own headers were for its first hop
                url = next_url
        except asyncio.CancelledError:
            if not deadlines.expired(deadline):
                raise
            total = self._config.timeouts.total
            raise deadline_passed(total, url) from None
        finally:
            deadlines.unwatch(deadline)
        raise TooManyRedirects(f"more than {max_redirects} redirects", url=str(url))

    async def _read_body(
        self,
        resp: aiohttp.ClientResponse,
        url: URL,
        cap: int,
        truncate: bool,
        raw: list[bytes] | None = None,
    ) -> tuple[bytes | None, int, bool]:
        """The body decoded (kept or only counted) within the cap, its size, and whether it
        was cut there (`truncate`); `raw` receives it as it came, when given."""
        keep = self._keep_body or truncate
        announced = resp.content_length
        if announced is not None and announced > cap and not truncate:
            raise ResponseTooLarge(
                f"Content-Length {announced} is over the {cap}-byte cap", url=str(url)
            )
        if announced is not None and announced <= cap and "Content-Encoding" not in resp.headers:
            # Not compressed and announced within the cap: it cannot inflate past it, and one
            # read is cheaper than iterating over chunks.
            body = await resp.read()
            if raw is not None:
                raw.append(body)
            return (body if keep else None), len(body), False
        decoder = BodyDecoder(
            ", ".join(resp.headers.getall("Content-Encoding", ())),
            url=str(url),
            strict=200 <= resp.status < 300,
        )
        chunks: list[bytes] = []
        size = received = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            # What comes over the wire is capped too: data after the end of a stream, or
            # empty gzip members one after another, decode to nothing.
            received += len(chunk)
            if raw is not None:
                raw.append(chunk[: len(chunk) - max(0, received - cap)])
            if received > cap and truncate:
                return b"".join(chunks), size, True
            if received > cap:
                raise ResponseTooLarge(f"body is over the {cap}-byte cap", url=str(url))
            # The decoder inflates in bounded steps, so counting what comes out stops a
            # compression bomb near the cap instead of after inflating it.
            for piece in decoder.feed(chunk):
                size += len(piece)
                if size > cap and truncate:
                    chunks.append(piece[: len(piece) - (size - cap)])
                    return b"".join(chunks), cap, True
                if size > cap:
                    raise ResponseTooLarge(
                        f"body is over the {cap}-byte cap after decompression", url=str(url)
                    )
                if keep:
                    chunks.append(piece)
        decoder.finish()
        return (b"".join(chunks) if keep else None), size, False

    def _response(
        self,
        resp: aiohttp.ClientResponse,
        url: URL,
        body: bytes | None,
        size: int,
        ttfb: float,
        redirects: int,
    ) -> Response:
        return Response(
            url=url,
            status=resp.status,
            headers=_selected_headers(resp.headers, self._config.record_headers),
            content_type=resp.content_type if "Content-Type" in resp.headers else None,
            charset=resp.charset,
            size=size,
            body=body,
            ttfb=ttfb,
            redirects=redirects,
            retry_after=resp.headers.get("Retry-After"),
            http_version=_http_version(resp.version),
        )


async def _read_raw(resp: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    """A body as it comes, up to `cap` bytes (a redirect's, for its exchange); and whether
    more came."""
    chunks: list[bytes] = []
    received = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        received += len(chunk)
        if received > cap:
            chunks.append(chunk[: len(chunk) - (received - cap)])
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False


def _peer_address(resp: aiohttp.ClientResponse) -> str | None:
    """The server's IP address, while the response still holds its connection."""
    connection = resp.connection
    if connection is None or connection.transport is None:
        return None
    peer = connection.transport.get_extra_info("peername")
    return str(peer[0]) if peer else None


def _exchange(
    resp: aiohttp.ClientResponse, sent_at: float, body: bytes, cut: bool, address: str | None
) -> Exchange:
    """The hop as it went over the wire, rebuilt from what aiohttp kept of it: the headers as
    sent and as received (in their order and case), the body as it came."""
    info = resp.request_info
    target = info.url.raw_path_qs or "/"
    request = [f"{info.method} {target} HTTP/1.1\r\n".encode("latin-1")]
    if "Host" not in info.headers:
        request.append(f"Host: {info.url.raw_authority}\r\n".encode("latin-1"))
    request += [f"{name}: {value}\r\n".encode("latin-1") for name, value in info.headers.items()]
    version = resp.version or aiohttp.HttpVersion11
    status = f"HTTP/{version.major}.{version.minor} {resp.status} {resp.reason or ''}\r\n"
    head = [status.encode("latin-1")]
    head += [name + b": " + value + b"\r\n" for name, value in resp.raw_headers]
    return Exchange(
        url=str(resp.url),
        sent_at=sent_at,
        request=b"".join(request) + b"\r\n",
        response=b"".join(head) + b"\r\n",
        body=body,
        truncated=cut,
        address=address,
    )


def _proxy_and_auth(proxy: Proxy | None) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy's URL without its credentials, and those as aiohttp takes them."""
    if proxy is None:
        return None, None
    url = URL(proxy.url)
    auth = aiohttp.BasicAuth(url.user or "", url.password or "") if url.user else None
    return url.with_user(None), auth


def _http_version(version: aiohttp.HttpVersion | None) -> str | None:
    if version is None:
        return None
    return _HTTP_VERSIONS.get(version) or f"HTTP/{version.major}.{version.minor}"


def _tls_context(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    """The system's trusted CAs (aiohttp's default), and those of `ca_bundle` besides."""
    if ca_bundle is None:
        return True
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=ca_bundle)
    return context


def _refuse_non_public_literal(url: URL) -> None:
    host = url.raw_host or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    if not is_public_address(host):
        raise BlockedURL(
            f"address {host} is not public (refused by --refuse-private)", url=str(url)
        )


def _selected_headers(headers: CIMultiDictProxy[str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: headers[name] for name in names if name in headers}


def _translated(exc: BaseException, url: URL) -> FetchError:
    """The corocrawl error for an aiohttp or OS error, most specific first."""
    where = str(url)
    match exc:
        case aiohttp.ConnectionTimeoutError():
            return ConnectTimeout(f"connect timed out: {exc}", url=where)
        case aiohttp.ServerTimeoutError():
            return ReadTimeout(f"read timed out: {exc}", url=where)
        case aiohttp.ClientConnectorCertificateError():
            return TLSError(f"TLS: {exc}", url=where, certificate=True)
        case aiohttp.ClientSSLError():
            return TLSError(f"TLS: {exc}", url=where)
        case aiohttp.ClientConnectorError() if isinstance(exc.os_error, NonPublicAddress):
            return BlockedURL(f"{exc.os_error} (refused by --refuse-private)", url=where)
        case aiohttp.ClientConnectorDNSError():
            return DNSError(f"DNS lookup failed: {exc}", url=where)
        case aiohttp.ClientConnectorError():
            return ConnectError(f"cannot connect: {exc}", url=where)
        case aiohttp.ClientPayloadError():
            return ReadError(f"body broken off: {_cause(exc)}", url=where)
        case aiohttp.ServerDisconnectedError():
            return ReadError(f"server disconnected: {exc}", url=where)
        case aiohttp.ClientResponseError():
            return ProtocolError(f"bad response: {exc.message or exc}", url=where)
        case aiohttp.InvalidURL() | ValueError():
            return BlockedURL(f"invalid URL: {exc}", url=where)
        case _:
            return ReadError(f"{type(exc).__name__}: {exc}", url=where)


def _cause(exc: BaseException) -> str:
    """Why a body broke off, once: aiohttp wraps the parser's error (whose text starts with a
    "400", a code for servers, meaningless for a client) in the payload error."""
    inner = next((arg for arg in exc.args if isinstance(arg, BaseException)), None)
    inner = inner or exc.__cause__ or exc.__context__
    message = getattr(inner, "message", None)  # aiohttp's HttpProcessingError
    if isinstance(message, str) and message:
        return message.rstrip(".")
    outer = str(exc.args[0]) if exc.args else str(exc)
    return f"{outer} ({inner})" if inner else outer


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's default resolver, with every non-public address dropped from its answers."""

    def __init__(self) -> None:
        self._inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        public = [answer for answer in answers if is_public_address(answer["host"])]
        if not public:
            raise NonPublicAddress(f"{host} resolves only to non-public addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


def _joined(
    credentials: CIMultiDict[str] | None, headers: Sequence[tuple[str, str]]
) -> CIMultiDict[str]:
    joined = CIMultiDict(credentials or ())
    joined.extend(headers)
    return joined
