"""The plain values that flow between the stages: a Request in, a FetchResult out."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

__all__ = [
    "ErrorInfo",
    "Exchange",
    "FetchResult",
    "Outcome",
    "Request",
    "SkipReason",
    "Visit",
    "decode_text",
]


class SkipReason(StrEnum):
    """Why a URL gets a record but no fetch; the values are those written in the output."""

    ROBOTS = "robots"
    ROBOTS_UNAVAILABLE = "robots-unavailable"  # robots.txt kept failing: see the record's error
    OFFSITE = "offsite"
    EXCLUDED = "excluded"
    DEPTH = "depth"
    MAX_PAGES = "max-pages"
    BUDGET = "budget"  # its host is over a budget: --max-pages/bytes/depth-per-host
    URL_TOO_LONG = "url-too-long"  # the crawl-trap guards: see Traps
    REPEATED_SEGMENT = "repeated-segment"
    PATH_TOO_DEEP = "path-too-deep"
    TOO_MANY_QUERIES = "too-many-queries"
    TOO_MANY_TEMPLATE_URLS = "too-many-template-urls"
    SITEMAP_TOO_DEEP = "sitemap-too-deep"  # an index nested deeper than Sitemaps.nesting
    NOT_ARCHIVED = "not-archived"  # a replay's archive does not hold it (--replay-only)
    INTERRUPTED = "interrupted"  # read from the input, not finished when the run was stopped


class Outcome(StrEnum):
    """A request's final state: fetched with a response (`done`), fetched without one
    (`failed`), or recorded without fetching (`skipped`)."""

    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class Visit(NamedTuple):
    """What the last fetch of a URL saw, kept by the frontier for a recrawl: the status (None
    when the fetch failed), the validators the server sent (ETag, Last-Modified), the sha1 of
    the body (hex; None when no body came), when it was fetched (time.time()), the seconds
    until the page is due again (see Revisit), and, when it was archived, the sha1 of the
    body as received (its Content-Encoding kept: the WARC payload)."""

    status: int | None
    etag: str | None
    last_modified: str | None
    digest: str | None
    fetched_at: float
    interval: float
    payload: str | None = None

    def conditional_headers(self) -> tuple[tuple[str, str], ...]:
        """The headers that ask the server for the page only if it changed since (RFC 9110)."""
        headers = []
        if self.etag is not None:
            headers.append(("If-None-Match", self.etag))
        if self.last_modified is not None:
            headers.append(("If-Modified-Since", self.last_modified))
        return tuple(headers)


@dataclass(frozen=True, slots=True)
class Request:
    """One URL to fetch. `position` is its place in the input, which keeps results orderable.

    In a crawl, `depth` counts links from a seed, `referrer` is the page it was found on,
    `frontier_id` is its entry in the frontier, and `skip` says it is to be recorded without
    being fetched; `host_depth` and `sitemap` are its frontier entry's (see Discovered).
    `max_bytes` replaces the configured body cap for this request (a sitemap's is 50 MB).
    `headers` are sent besides the configured ones; `previous` is what the last fetch of this
    URL saw, in a recrawl.
    """

    url: str
    position: int = 0
    depth: int = 0
    referrer: str | None = None
    frontier_id: int | None = None
    skip: SkipReason | None = None
    host_depth: int = 0
    sitemap: int = 0
    max_bytes: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    previous: Visit | None = None


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why a fetch failed: the error's class name (see corocrawl's error tree) and its message."""

    type: str
    message: str

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        return cls(type(exc).__name__, str(exc) or type(exc).__name__)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and its response as they went over the wire, for an archive (WARC).

    `request` is the request line and headers as sent, `response` the status line and headers
    as received (HTTP/2's as libcurl shows them: `HTTP/2 200`, lower-case names), `body` the body
    as received: after the transfer's framing (chunks) is taken off, before its
    Content-Encoding is undone. `truncated` when the body was cut at the size cap. `sent_at`
    is the wall-clock time (time.time()) the request was sent; `address` the server's IP.
    """

    url: str
    sent_at: float
    request: bytes
    response: bytes
    body: bytes = field(repr=False)
    truncated: bool = False
    address: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The final outcome of fetching one URL: a response, or the error that ended its attempts.

    `elapsed` and `ttfb` (time to the response headers) are those of the last attempt, in
    seconds, and `elapsed_total` runs from the first attempt's start to the result, the waits
    between attempts included; `attempts` counts every try; `size` is the body's length after
    decompression. A response with an error status (404, 503 after its retries) has `status`
    set and `error` None; `error` is set only when no response came. `skip` is set, and nothing
    fetched, when a crawl rule (robots, scope) kept the URL from being fetched (with `error`
    too when an error is the reason). `position` is the request's.
    """

    url: str
    position: int = 0
    final_url: str | None = None
    skip: SkipReason | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    charset: str | None = None
    size: int = 0
    elapsed: float = 0.0
    elapsed_total: float = 0.0
    ttfb: float | None = None
    attempts: int = 0
    redirects: int = 0
    http_version: str | None = None
    proxy: str | None = None
    body_path: str | None = None
    error: ErrorInfo | None = None
    body: bytes | None = field(default=None, repr=False)
    request: Request | None = field(default=None, repr=False)
    # Each hop's exchange (redirects first), with FetchConfig(keep_exchanges=True).
    exchanges: tuple[Exchange, ...] = field(default=(), repr=False)

    @property
    def outcome(self) -> Outcome:
        if self.skip is not None:
            return Outcome.SKIPPED
        return Outcome.FAILED if self.error is not None else Outcome.DONE

    @property
    def ok(self) -> bool:
        """True when a response came and its status is below 400."""
        return self.error is None and self.status is not None and self.status < 400

    def text(self) -> str:
        """The kept body decoded with its declared charset; undecodable bytes are replaced."""
        if self.body is None:
            raise ValueError("the body was not kept: fetch with keep_body=True")
        return decode_text(self.body, self.charset)

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready record written to output files (the body itself is never in it)."""
        record: dict[str, Any] = {
            "url": self.url,
            "final_url": self.final_url,
            "status": self.status,
            "content_type": self.content_type,
            "bytes": self.size,
            "elapsed": round(self.elapsed, 6),
            "elapsed_total": round(self.elapsed_total, 6),
            "ttfb": None if self.ttfb is None else round(self.ttfb, 6),
            "attempts": self.attempts,
            "redirects": self.redirects,
            "http_version": self.http_version,
            "headers": self.headers,
            "error": None
            if self.error is None
            else {
                "type": self.error.type,
                "message": self.error.message,
            },
        }
        if self.body_path is not None:
            record["body_path"] = self.body_path
        if self.proxy is not None:
            record["proxy"] = self.proxy
        if self.skip is not None:
            record["skip"] = self.skip
        return record


def decode_text(body: bytes, charset: str | None) -> str:
    """`body` as text in its declared charset (UTF-8 when none is declared or the name is
    unknown); bytes that do not decode are replaced, never an error."""
    return body.decode(_known_codec(charset), errors="replace")


def _known_codec(charset: str | None) -> str:
    if charset:
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass
    return "utf-8"
