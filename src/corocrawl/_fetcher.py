"""One fetch attempt over aiohttp: redirects hop by hop, deadlines, and a decompressed-size cap.

This is the only module that uses aiohttp's client, and the one place its errors are
translated into corocrawl's tree. Redirects are followed here rather than by aiohttp so that
every hop is checked like a new URL and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._config import FetchConfig
from ._exceptions import (
    BlockedURL,
    ConnectError,
    ConnectTimeout,
    DNSError,
    FetchError,
    FetchTimeout,
    ProtocolError,
    ReadError,
    ReadTimeout,
    ResponseTooLarge,
    TooManyRedirects,
)
from ._urls import FETCHABLE_SCHEMES

__all__ = ["Fetcher", "Response"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CROSS_ORIGIN_STRIPPED = ("authorization", "cookie", "proxy-authorization")
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    """What one attempt got: the final response's status, selected headers and body."""

    url: URL
    status: int
    headers: dict[str, str]
    content_type: str | None
    charset: str | None
    size: int
    body: bytes | None
    ttfb: float
    redirects: int
    retry_after: str | None


class Fetcher:
    """Owns the process's aiohttp session; `fetch()` makes one attempt at one URL.

    async with Fetcher(FetchConfig()) as fetcher:
        response = await fetcher.fetch(URL("http://127.0.0.1:8080/"))
    """

    def __init__(self, config: FetchConfig) -> None:
        self._config = config
        self._keep_body = config.keep_body or config.save_bodies is not None
        self._headers = CIMultiDict(config.headers)
        self._headers.setdefault("User-Agent", config.user_agent)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        timeouts = self._config.timeouts
        connector = aiohttp.TCPConnector(
            limit=self._config.limits.concurrency,
            limit_per_host=0,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=timeouts.connect, sock_read=timeouts.read
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
            trust_env=False,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: URL) -> Response:
        """Fetch `url` once, following redirects; raise a FetchError subclass on failure."""
        total = self._config.timeouts.total
        try:
            async with asyncio.timeout(total):
                return await self._follow(url)
        except FetchError:
            raise
        except TimeoutError:
            raise FetchTimeout(f"no complete response within {total:g}s", url=str(url)) from None

    async def _follow(self, url: URL) -> Response:
        session = self._session
        if session is None:
            raise RuntimeError("Fetcher is not open: use 'async with Fetcher(...)'")
        headers = self._headers
        start = time.perf_counter()
        max_redirects = self._config.limits.max_redirects
        for hop in range(max_redirects + 1):
            with _translate_errors(url):
                async with session.get(
                    url, headers=headers, allow_redirects=False, max_redirects=0
                ) as resp:
                    ttfb = time.perf_counter() - start
                    location = resp.headers.get("Location")
                    if resp.status in REDIRECT_STATUSES and location:
                        next_url = _redirect_target(url, location)
                    else:
                        body, size = await self._read_body(resp, url)
                        return self._response(resp, url, body, size, ttfb, hop)
            if hop == max_redirects:
                break
            if next_url.origin() != url.origin():
                headers = _without_credentials(headers)
            url = next_url
        raise TooManyRedirects(f"more than {max_redirects} redirects", url=str(url))

    async def _read_body(self, resp: aiohttp.ClientResponse, url: URL) -> tuple[bytes | None, int]:
        cap = self._config.limits.max_body_bytes
        announced = resp.content_length
        if announced is not None and announced > cap:
            raise ResponseTooLarge(
                f"Content-Length {announced} is over the {cap}-byte cap", url=str(url)
            )
        chunks: list[bytes] = []
        size = 0
        # aiohttp inflates compressed bodies in bounded steps, so counting what comes out of
        # iter_chunked stops a compression bomb near the cap instead of after inflating it.
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise ResponseTooLarge(
                    f"body is over the {cap}-byte cap after decompression", url=str(url)
                )
            if self._keep_body:
                chunks.append(chunk)
        return (b"".join(chunks) if self._keep_body else None), size

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
        )


def _redirect_target(url: URL, location: str) -> URL:
    try:
        target = url.join(URL(location))
    except ValueError as exc:
        raise BlockedURL(f"redirect to an invalid URL {location!r}: {exc}", url=str(url)) from None
    if target.scheme not in FETCHABLE_SCHEMES:
        raise BlockedURL(
            f"redirect to scheme {target.scheme!r} refused (only http and https): {location!r}",
            url=str(url),
        )
    if not target.raw_host:
        raise BlockedURL(f"redirect to a URL without host: {location!r}", url=str(url))
    return target.with_fragment(None)


def _without_credentials(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    safe = headers.copy()
    for name in _CROSS_ORIGIN_STRIPPED:
        safe.popall(name, None)
    return safe


def _selected_headers(headers: CIMultiDictProxy[str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: headers[name] for name in names if name in headers}


@contextlib.contextmanager
def _translate_errors(url: URL) -> Iterator[None]:
    """Map aiohttp's and the OS's errors to corocrawl's tree, most specific first."""
    where = str(url)
    try:
        yield
    except FetchError:
        raise
    except aiohttp.ConnectionTimeoutError as exc:
        raise ConnectTimeout(f"connect timed out: {exc}", url=where) from exc
    except aiohttp.SocketTimeoutError as exc:
        raise ReadTimeout(f"read timed out: {exc}", url=where) from exc
    except aiohttp.ServerTimeoutError as exc:
        raise ReadTimeout(f"timed out: {exc}", url=where) from exc
    except aiohttp.ClientConnectorDNSError as exc:
        raise DNSError(f"DNS lookup failed: {exc}", url=where) from exc
    except aiohttp.ClientConnectorError as exc:
        raise ConnectError(f"cannot connect: {exc}", url=where) from exc
    except aiohttp.ClientPayloadError as exc:
        raise ReadError(f"body broken off: {_cause(exc)}", url=where) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise ReadError(f"server disconnected: {exc}", url=where) from exc
    except aiohttp.ClientResponseError as exc:
        raise ProtocolError(f"bad response: {exc.message or exc}", url=where) from exc
    except (aiohttp.InvalidURL, ValueError) as exc:
        raise BlockedURL(f"invalid URL: {exc}", url=where) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise ReadError(f"{type(exc).__name__}: {exc}", url=where) from exc


def _cause(exc: BaseException) -> str:
    inner = exc.__cause__ or exc.__context__
    return f"{exc} ({inner})" if inner else str(exc)
