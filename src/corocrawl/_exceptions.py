"""Every error corocrawl raises, in one tree.

    CorocrawlError
    ├─ ConfigError (also ValueError)             bad options, bad input files
    │  └─ CrawlNotFound                           no shared crawl of that id in Redis
    ├─ FetchError (.url)                         one fetch failed; recorded, never a crash
    │  ├─ FetchTimeout (also TimeoutError)       the whole-fetch deadline passed
    │  │  ├─ ConnectTimeout
    │  │  └─ ReadTimeout
    │  ├─ NetworkError
    │  │  ├─ ConnectError
    │  │  │  ├─ TLSError (.certificate)          the handshake failed, or the certificate
    │  │  │  └─ ProxyError                       the proxy failed or refused the request
    │  │  ├─ DNSError
    │  │  ├─ ReadError                            reset, truncated or short body
    │  │  └─ ProtocolError                        not valid HTTP
    │  ├─ TooManyRedirects
    │  ├─ NotArchived                             a replay's archive does not hold the URL
    │  ├─ ResponseTooLarge                        over the decompressed-size cap
    │  ├─ BlockedURL (also ValueError)            a scheme or URL corocrawl will not fetch
    │  └─ RobotsUnavailable                       robots.txt kept failing (5xx, unreachable)
    ├─ FrontierError
    │  ├─ FrontierClosed
    │  └─ BackendUnavailable
    ├─ SinkError                                  an output could not be written
    └─ WorkerError (.worker_id, .remote_traceback)

Each error also subclasses the matching stdlib type where there is one, so callers may catch
either. A failed fetch becomes a result record carrying the error's class name and message;
skips (robots, offsite, duplicate, depth) are values, not exceptions.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = [
    "BackendUnavailable",
    "BlockedURL",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "CorocrawlError",
    "CrawlNotFound",
    "DNSError",
    "FetchError",
    "FetchTimeout",
    "FrontierClosed",
    "FrontierError",
    "NetworkError",
    "NotArchived",
    "ProtocolError",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "ResponseTooLarge",
    "RobotsUnavailable",
    "SinkError",
    "TLSError",
    "TooManyRedirects",
    "WorkerError",
]


class CorocrawlError(Exception):
    """The base of every error corocrawl raises."""


class ConfigError(CorocrawlError, ValueError):
    """An option or an input file is not valid; the message says which and where."""


class CrawlNotFound(ConfigError):
    """A shared crawl of that id has not been started in the Redis frontier."""


class FetchError(CorocrawlError):
    """Fetching one URL failed."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class FetchTimeout(FetchError, TimeoutError):
    """The fetch did not finish within its total deadline (a dripping body ends here)."""


class ConnectTimeout(FetchTimeout):
    """No connection was established within the connect timeout."""


class ReadTimeout(FetchTimeout):
    """The server sent nothing for longer than the read timeout."""


class NetworkError(FetchError):
    """The connection failed or broke."""


class ConnectError(NetworkError):
    """The connection was refused or could not be opened."""


class TLSError(ConnectError):
    """The TLS handshake failed, or the server's certificate is not trusted (see --ca-bundle).

    `certificate` is True when the certificate itself was refused (unknown authority, expired,
    another host's name): that does not pass, so it is not tried again."""

    def __init__(self, message: str, *, url: str | None = None, certificate: bool = False) -> None:
        super().__init__(message, url=url)
        self.certificate = certificate


class ProxyError(ConnectError):
    """The proxy could not be reached, or would not carry the request; `proxy` is the proxy
    as it may be shown (without its password)."""

    def __init__(self, message: str, *, url: str | None = None, proxy: str | None = None) -> None:
        super().__init__(message, url=url)
        self.proxy = proxy


class DNSError(ConnectError):
    """The host name did not resolve."""


class ReadError(NetworkError):
    """The connection broke while reading: reset, truncated, or shorter than announced."""


class ProtocolError(NetworkError):
    """The server did not speak valid HTTP."""


class NotArchived(FetchError):
    """A replay (`--replay-only`) was asked for a URL its archive does not hold: recorded as
    skipped (`not-archived`), not fetched."""


class TooManyRedirects(FetchError):
    """More redirect hops than allowed."""


class ResponseTooLarge(FetchError):
    """The body, after decompression, is larger than allowed."""


class BlockedURL(FetchError, ValueError):
    """The URL, or a redirect to it, is not allowed (only http and https are fetched)."""


class RobotsUnavailable(FetchError):
    """The site's robots.txt answered 5xx or not at all, again and again: not fetched."""


class FrontierError(CorocrawlError):
    """The frontier (the store of pending and seen requests) failed."""


class FrontierClosed(FrontierError):
    """The frontier was used after it was closed."""


class BackendUnavailable(FrontierError):
    """The frontier's backend (a database file, a Redis server) cannot be reached."""


class SinkError(CorocrawlError):
    """An output could not be written (disk full, closed pipe)."""


class WorkerError(CorocrawlError):
    """A worker process failed; carries the worker's own traceback."""

    def __init__(self, message: str, *, worker_id: int, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.worker_id = worker_id
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        base = super().__str__()
        if not self.remote_traceback:
            return base
        return f"{base}\n\nTraceback in worker {self.worker_id}:\n{self.remote_traceback}"


_E = TypeVar("_E", bound=BaseException)


def first_of(group: BaseExceptionGroup[Any], kind: type[_E]) -> _E | None:
    """The first `kind` error in a task group's exceptions, however deeply nested."""
    matching = group.subgroup(kind)
    if matching is None:
        return None
    first: BaseException = matching
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    assert isinstance(first, kind)
    return first
