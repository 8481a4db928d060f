"""The transport interface: the one way the engine talks to the network.

A transport makes one attempt at one URL and answers with a Response or raises one of
corocrawl's FetchError subclasses; nothing of its library escapes it. Inside that attempt it
keeps every limit of its FetchConfig:

- redirects followed hop by hop (unless `follow_redirects` is off), each hop checked like a
  new URL (http and https only, `refuse_private` on the address connected to) and counted
  against `max_redirects`; credentials (`Authorization`, `Cookie`, `Proxy-Authorization`)
  never follow a hop to another origin;
- the whole-attempt deadline (`timeouts.total`: connect, redirects, headers and body), the
  connect timeout, and the read timeout when set;
- the body counted after decompression against `max_body_bytes` (or the call's `max_bytes`),
  refused past it, or cut there with `truncate`; kept only when the config asks for bodies.

A transport is opened once per engine (`async with`), shared by every request of it, and
closed at the end. Each transport is one module, the only one that imports its library;
`transports.TRANSPORTS` names them, and `FetchConfig.transport` picks one.

    async with open_transport(FetchConfig()) as transport:
        response = await transport.fetch(URL("http://127.0.0.1:8080/"))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from yarl import URL

from .._config import FetchConfig
from .._exceptions import BlockedURL, FetchTimeout
from .._models import Exchange
from .._urls import FETCHABLE_SCHEMES

__all__ = [
    "REDIRECT_STATUSES",
    "Credentials",
    "Response",
    "Transport",
    "content_type_of",
    "deadline_passed",
    "redirect_target",
]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True, slots=True)
class Credentials:
    """A config's headers, the credentials apart: those go to the origin asked for only (never
    across a redirect to another), and only to `origins` when the config names some."""

    others: tuple[tuple[str, str], ...]
    credentials: tuple[tuple[str, str], ...]
    origins: frozenset[str] | None

    @classmethod
    def of(cls, config: FetchConfig) -> Credentials:
        headers = config.headers
        origins = config.credentials_origins
        return cls(
            tuple(header for header in headers if header[0].lower() not in _CREDENTIAL_HEADERS),
            tuple(header for header in headers if header[0].lower() in _CREDENTIAL_HEADERS),
            None if origins is None else frozenset(origins),
        )

    def go_to(self, origin: URL) -> bool:
        """Whether the credentials are sent to a request for this origin."""
        return bool(self.credentials) and (self.origins is None or str(origin) in self.origins)


def deadline_passed(total: float, url: URL) -> FetchTimeout:
    """The error of a fetch that its whole-fetch deadline ended."""
    return FetchTimeout(f"no complete response within {total:g}s", url=str(url))


@dataclass(slots=True)  # not frozen: made once per attempt, and a frozen init costs 2 us
class Response:
    """What one attempt got: the final response's status, selected headers and body.

    `body` is None unless the config keeps bodies (or the call truncates); `size` is the
    body's length after decompression either way. `redirects` counts the hops followed.
    `http_version` is the protocol the final response came over ("HTTP/1.1", "HTTP/2").
    """

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
    http_version: str | None = None
    proxy: str | None = None  # the proxy it came through, as it may be shown
    exchanges: tuple[Exchange, ...] = ()  # each hop's, with FetchConfig.keep_exchanges
    cut: bool = False  # the body was cut at the cap (asked with truncate)


class Transport(Protocol):
    """One attempt at one URL, within the limits and the deadline of its FetchConfig."""

    async def __aenter__(self) -> Transport:
        """Open the connection pool and whatever the attempts share."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close every connection."""
        ...

    async def fetch(
        self,
        url: URL,
        *,
        max_bytes: int | None = None,
        truncate: bool = False,
        follow_redirects: bool | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Response:
        """Fetch `url` once; raise a FetchError subclass when no response came.

        `max_bytes` replaces the configured body cap for this call; with `truncate`, a longer
        body is cut at the cap and kept instead of refused; `follow_redirects` replaces the
        configured choice (robots.txt is read with all three: RFC 9309 follows its redirects
        even where a crawl records them). `headers` are sent besides the configured ones, to
        the first hop only (a recrawl's conditional request).
        """
        ...


def content_type_of(value: str | None) -> tuple[str | None, str | None]:
    """(media type, charset) of a Content-Type header, as aiohttp reads them."""
    if value is None:
        return None, None
    media, _, parameters = value.partition(";")
    charset = None
    for parameter in parameters.split(";"):
        name, _, text = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = text.strip().strip('"') or None
    return media.strip().lower() or None, charset


def redirect_target(url: URL, location: str) -> URL:
    """Where a redirect leads (without its fragment); BlockedURL if it may not be followed."""
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
