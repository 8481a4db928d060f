"""Every configuration object, frozen, with visible defaults, validated on construction.

    config = FetchConfig(
        timeouts=Timeouts(total=30.0, connect=5.0),
        limits=Limits(concurrency=500, per_host=16),
        retry=RetryPolicy(retries=3),
    )
    crawl = CrawlConfig(scope=Scope(max_depth=2), politeness=Politeness(delay=0.5))

A fetch is shaped by a FetchConfig; a crawl by a CrawlConfig, which holds the FetchConfig of
its requests, its Scope and its Politeness. Each default is defined here once: the CLI maps
flags onto these objects, and nothing else reads flags or the environment.
"""

from __future__ import annotations

import importlib.util
import math
import re
import select
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from yarl import URL

from ._exceptions import ConfigError

__all__ = [
    "DAY",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_CRAWL_CONCURRENCY",
    "DEFAULT_CRAWL_PER_HOST",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_LINKS_PER_PAGE",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_RECORD_HEADERS",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TRANSPORT",
    "DEFAULT_USER_AGENT",
    "HTTP_VERSIONS",
    "PROXY_SCHEMES",
    "TRANSPORT_NAMES",
    "CrawlConfig",
    "FetchConfig",
    "Limits",
    "Politeness",
    "RetryPolicy",
    "Revisit",
    "Scope",
    "Sitemaps",
    "Timeouts",
    "Traps",
    "proxy_url",
    "shown_proxy",
]

DEFAULT_CONCURRENCY = 100
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 10
DEFAULT_RETRIES = 2
DEFAULT_USER_AGENT = "corocrawl/0.1"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT: float | None = None
# The transports there are (each is one module of the engine, listed in its table too).
TRANSPORT_NAMES = ("aiohttp", "curl")
HTTP_VERSIONS = ("1.1", "2", "3")
# The curl transport watches libcurl's sockets with epoll: Linux's. Elsewhere aiohttp is it.
CURL_SUPPORTED = hasattr(select, "epoll")
DEFAULT_TRANSPORT = "curl" if CURL_SUPPORTED else "aiohttp"
# A crawl visits few hosts at a time, so its defaults are polite ones.
DEFAULT_CRAWL_CONCURRENCY = 64
DEFAULT_CRAWL_PER_HOST = 4
DEFAULT_MAX_LINKS_PER_PAGE = 1000
_CONTROL = re.compile(r"[\r\n\x00]")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP field name (RFC 9110)
DEFAULT_RECORD_HEADERS = (
    "content-type",
    "content-length",
    "content-encoding",
    "last-modified",
    "etag",
    "server",
    "location",
    "retry-after",
)


EXTRACTS = ("text", "meta")


def checked_extracts(extracts: Iterable[str]) -> tuple[str, ...]:
    """The extracts asked for, each once, in a fixed order; ConfigError for an unknown one, or
    for `text` without trafilatura (the `extract` extra)."""
    asked = set(extracts)
    unknown = asked - set(EXTRACTS)
    _require(not unknown, f"extract {min(unknown or [''])!r}: choose from {', '.join(EXTRACTS)}")
    _require(
        "text" not in asked or importlib.util.find_spec("trafilatura") is not None,
        "--extract text needs trafilatura: pip install 'corocrawl[extract]'",
    )
    return tuple(kind for kind in EXTRACTS if kind in asked)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _origin(text: str) -> str:
    """`text` as an origin, scheme://host:port as URLs compare them."""
    try:
        url = URL(text)
    except ValueError:
        url = URL()
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise ConfigError(f"credentials origin {text!r}: give it as https://host[:port]")
    return str(url.origin())


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def proxy_url(text: str) -> str:
    """`text` checked as a proxy URL (scheme://[user:password@]host:port); ConfigError says
    what is wrong without repeating a password."""
    try:
        url = URL(text.strip())
    except ValueError:
        url = URL()
    where = shown_proxy(text.strip())
    if url.scheme not in PROXY_SCHEMES:
        raise ConfigError(f"proxy {where}: the scheme must be one of {', '.join(PROXY_SCHEMES)}")
    if not url.raw_host or url.explicit_port is None:
        raise ConfigError(f"proxy {where}: give it as {url.scheme}://host:port")
    return str(url)


def shown_proxy(text: str) -> str:
    """A proxy URL as it may be printed or recorded: its password replaced by ***, whatever
    the URL lacks (a scheme-less user:password@host is hidden too)."""
    return _USERINFO_PASSWORD.sub(r"\1:***@", text)


# user:password@ at the start, or after "//": the password is what goes.
_USERINFO_PASSWORD = re.compile(r"((?:^|//)[^/@:\s]*):[^/@\s]*@")


def _positive(value: float, name: str) -> None:
    _require(math.isfinite(value) and value > 0, f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Time limits of one fetch attempt, in seconds.

    `total` bounds the whole attempt, redirects and body included: it is what ends a body that
    drips one byte at a time, which a read timeout alone never does. `connect` bounds opening a
    connection. `read`, off by default (the total deadline already ends a silent server), bounds
    each wait for data, to give up on silence sooner; it costs a timer per chunk received.

        Timeouts(total=30.0, connect=5.0)
    """

    total: float = DEFAULT_TIMEOUT
    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float | None = DEFAULT_READ_TIMEOUT

    def __post_init__(self) -> None:
        _positive(self.total, "total timeout")
        _positive(self.connect, "connect timeout")
        if self.read is not None:
            _positive(self.read, "read timeout")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on concurrency and on what one response may cost.

    `per_host=None` lets one host take all `concurrency` slots, which suits a list of URLs the
    user chose; crawls set a small value. `per_ip` bounds the requests in flight to one IP
    address over all the hosts on it (thousands of sites can share one server): a host's
    address is the first its name resolves to, looked up before its first request and again
    when it comes back after an hour idle. A host whose name does not resolve is not held
    back by it (for a minute; then it is looked up again). Not with `proxies`: the proxy
    resolves the names there.

        Limits(concurrency=500, per_host=8, per_ip=16, max_body_bytes=2 * 1024 * 1024)
    """

    concurrency: int = DEFAULT_CONCURRENCY
    per_host: int | None = None
    per_ip: int | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS

    def __post_init__(self) -> None:
        _require(self.concurrency >= 1, f"concurrency must be at least 1, got {self.concurrency}")
        _require(
            self.per_host is None or self.per_host >= 1,
            f"per-host limit must be at least 1, got {self.per_host}",
        )
        _require(
            self.per_ip is None or self.per_ip >= 1,
            f"per-IP limit must be at least 1, got {self.per_ip}",
        )
        _require(
            self.max_body_bytes >= 0, f"max body bytes must be >= 0, not {self.max_body_bytes}"
        )
        _require(self.max_redirects >= 0, f"max redirects must be >= 0, got {self.max_redirects}")

    @property
    def host_slots(self) -> int:
        return self.concurrency if self.per_host is None else min(self.per_host, self.concurrency)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how soon a failed attempt is tried again.

    Connection errors, timeouts and the statuses in `retry_statuses` are retried up to `retries`
    more times, after an exponential backoff with full jitter (`backoff_base * 2**n`, at most
    `backoff_max`). A Retry-After header is honoured up to `retry_after_max` seconds, and pauses
    the whole host, not just that URL.

        RetryPolicy(retries=5, backoff_base=1.0)
    """

    retries: int = DEFAULT_RETRIES
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def __post_init__(self) -> None:
        _require(self.retries >= 0, f"retries must be >= 0, got {self.retries}")
        _require(self.backoff_base >= 0, f"backoff base must be >= 0, got {self.backoff_base}")
        _require(self.backoff_max >= 0, f"backoff max must be >= 0, got {self.backoff_max}")
        _require(
            self.retry_after_max >= 0, f"retry-after max must be >= 0, got {self.retry_after_max}"
        )
        bad = sorted(s for s in self.retry_statuses if not 100 <= s <= 599)
        _require(not bad, f"retry statuses must be HTTP statuses (100-599), got {bad}")


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """Everything that shapes a fetch, for the API and the CLI alike.

    Bodies are counted and dropped by default; `keep_body=True` keeps each in its result
    (`result.body`), `save_bodies=Path("bodies")` writes each to a file named by its SHA-256.
    `refuse_private=True` refuses private, loopback and link-local addresses, checked on the
    address actually connected to (names as resolved, IP literals as written), on every hop.
    With `follow_redirects=False` a 3xx is the result itself (a crawl does that, so that each
    redirect target passes its scope, robots and dedupe checks like any link). `transport`
    names the network library behind every request (see corocrawl's transport interface).
    Credential headers (`Authorization`, `Cookie`, `Proxy-Authorization`) go to the origin of
    each URL asked for, never across a redirect to another; with `credentials_origins`
    (`"https://example.org"`, ...) only to those origins (scheme, host and port): a crawl sets
    its seeds' origins, so no link, redirect or robots.txt elsewhere receives them.
    `ca_bundle` is a PEM file of certificate authorities trusted besides the system's: a
    private CA (an intranet, a test server). `verify_tls=False` trusts any certificate (curl's
    --insecure): for a test host only, never for data you will rely on. `http_version` is the
    newest HTTP spoken: "2" (HTTP/2 where a TLS server offers it, else 1.1; the aiohttp
    transport speaks 1.1 only), "1.1", or "3" (HTTP/3 tried first; the curl transport only).
    `keep_exchanges=True` keeps each hop's request and response as they went over the wire
    (`result.exchanges`), which a WARC is written from. `replay` (WARC files, or directories
    of them) answers each URL they hold from there instead of the network; with
    `replay_only` a URL they do not hold is recorded as skipped (`not-archived`).
    `proxies` ("http://host:port", "socks5h://user:password@host:port", ...) are used in turn,
    one per request; one that keeps failing is rested a while. A password in a proxy URL is
    never written out: records and messages show it as ***.

        FetchConfig(limits=Limits(concurrency=200), headers=(("Accept", "text/html"),))
    """

    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    user_agent: str = DEFAULT_USER_AGENT
    headers: tuple[tuple[str, str], ...] = ()
    record_headers: tuple[str, ...] = DEFAULT_RECORD_HEADERS
    keep_body: bool = False
    keep_exchanges: bool = False
    replay: tuple[Path, ...] = ()
    replay_only: bool = False
    save_bodies: Path | None = None
    follow_redirects: bool = True
    refuse_private: bool = False
    transport: str = DEFAULT_TRANSPORT
    credentials_origins: tuple[str, ...] | None = None
    ca_bundle: Path | None = None
    verify_tls: bool = True
    http_version: str = "2"
    proxies: tuple[str, ...] = field(default=(), repr=False)  # they may hold passwords

    def __post_init__(self) -> None:
        _require(bool(self.user_agent.strip()), "user agent must not be empty")
        _require(not _CONTROL.search(self.user_agent), "user agent has a line break or NUL")
        for name, value in self.headers:
            _require(_TOKEN.fullmatch(name) is not None, f"bad header name {name!r}")
            _require(not _CONTROL.search(value), f"header {name!r} has a line break or NUL")
        object.__setattr__(self, "record_headers", tuple(h.lower() for h in self.record_headers))
        if self.credentials_origins is not None:
            object.__setattr__(
                self,
                "credentials_origins",
                tuple(_origin(text) for text in self.credentials_origins),
            )
        _require(
            self.transport in TRANSPORT_NAMES,
            f"unknown transport {self.transport!r} (known: {', '.join(TRANSPORT_NAMES)})",
        )
        _require(
            self.transport != "curl" or CURL_SUPPORTED,
            "the curl transport needs Linux (epoll); use --transport aiohttp here",
        )
        _require(
            self.http_version in HTTP_VERSIONS,
            f"unknown HTTP version {self.http_version!r} (known: {', '.join(HTTP_VERSIONS)})",
        )
        _require(
            self.http_version != "3" or self.transport == "curl",
            "HTTP/3 needs the curl transport (--transport curl)",
        )
        object.__setattr__(self, "proxies", tuple(proxy_url(text) for text in self.proxies))
        socks = [shown_proxy(text) for text in self.proxies if text.startswith("socks")]
        _require(
            not socks or self.transport == "curl",
            f"SOCKS proxies ({socks[0] if socks else ''}) need the curl transport "
            "(--transport curl)",
        )
        object.__setattr__(self, "replay", tuple(Path(path) for path in self.replay))
        _require(not self.replay_only or bool(self.replay), "--replay-only needs --replay FILE")
        _require(
            not (self.proxies and self.limits.per_ip is not None),
            "--per-ip cannot be kept through a proxy: the proxy resolves each site's name, and "
            "a lookup here would go around it",
        )
        _require(
            not (self.proxies and self.refuse_private),
            "--refuse-private cannot be kept through a proxy: the proxy, not corocrawl, "
            "connects to each site",
        )

    def with_concurrency(self, concurrency: int) -> FetchConfig:
        """The same fetch with `concurrency` requests in flight (one worker's share), and the
        same share of the per-IP limit, rounded up (at least 1). An address's hosts are spread
        over the workers by their names, so the workers together keep to the limit rounded
        up to a multiple of their number: `per_ip=8` on 4 workers is 2 each, `per_ip=2` is 1
        each, 4 in all."""
        limits = self.limits
        per_ip = limits.per_ip
        if per_ip is not None:
            per_ip = math.ceil(per_ip * concurrency / limits.concurrency)
        return replace(self, limits=replace(limits, concurrency=concurrency, per_ip=per_ip))


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of the web a crawl may fetch.

    By default only the seeds' own hosts. `allow_domains` adds domains with their subdomains
    ("example.com" allows www.example.com too). `include` / `exclude` are regular expressions
    searched in the canonical URL: with any `include`, one must match; no `exclude` may.

        Scope(allow_domains=("example.com",), exclude=(r"/login",), max_depth=3)

    Budgets: `max_pages` counts the whole crawl's fetches; `max_pages_per_host` and
    `max_bytes_per_host` (bodies as received) each host's. A host over its budget has its
    remaining URLs recorded as skipped (`budget`), not fetched. `max_depth_per_host` counts
    the links followed within a host from where the crawl entered it (a seed, a link from
    another host, a URL its sitemap lists): a URL deeper is skipped (`budget`) too.
    """

    allow_domains: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_depth: int | None = None
    max_pages: int | None = None
    max_pages_per_host: int | None = None
    max_bytes_per_host: int | None = None
    max_depth_per_host: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_depth_per_host"):
            value = getattr(self, name)
            _require(value is None or value >= 0,
                     f"{name.replace('_', ' ')} must be >= 0, got {value}")  # fmt: skip
        for name in ("max_pages", "max_pages_per_host", "max_bytes_per_host"):
            value = getattr(self, name)
            _require(value is None or value >= 1,
                     f"{name.replace('_', ' ')} must be >= 1, got {value}")  # fmt: skip
        for pattern in (*self.include, *self.exclude):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"bad regular expression {pattern!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Politeness:
    """How gently a crawl treats each host.

    `delay` is the least time between two requests to one host; robots.txt's Crawl-delay may
    ask for more, honoured up to `crawl_delay_max`. With `respect_robots`, robots.txt is
    obeyed. One that cannot be had (5xx, no answer) is asked for `robots_tries` times in all,
    `robots_retry` seconds after the first failure and twice as long after each next one; its
    host's URLs wait meanwhile, and are then recorded as skipped (`robots-unavailable`, with
    the error), as RFC 9309 allows, so that a crawl always ends. The User-Agent sent (and
    matched against robots.txt) is `FetchConfig.user_agent`, since every request carries it.

    The delay adapts to each host, between `delay` and `max_delay`: with `adaptive` (off by
    default: with a small per-host limit it halves a host's rate), it follows
    the host's latency so that about `target_concurrency` requests (default: the per-host
    limit) are in flight there, moving up fast and down gently; whether adaptive or not, a 429
    or a 503 doubles it at once (Retry-After, when given, pauses the host besides), and the
    pace the host had then, made 25% slower, is its least delay for the rest of the crawl.

        Politeness(delay=1.0, respect_robots=True)
    """

    delay: float = 0.0
    respect_robots: bool = True
    robots_retry: float = 5.0
    robots_tries: int = 3
    crawl_delay_max: float = 30.0
    adaptive: bool = False
    max_delay: float = 60.0
    target_concurrency: float | None = None

    def __post_init__(self) -> None:
        _require(math.isfinite(self.delay) and self.delay >= 0,
                 f"delay must be >= 0, got {self.delay}")  # fmt: skip
        _require(math.isfinite(self.max_delay) and self.max_delay >= self.delay,
                 f"max delay must be >= delay ({self.delay}), got {self.max_delay}")  # fmt: skip
        _require(self.target_concurrency is None or self.target_concurrency > 0,
                 f"target concurrency must be > 0, got {self.target_concurrency}")  # fmt: skip
        _positive(self.robots_retry, "robots retry")
        _require(self.robots_tries >= 1, f"robots tries must be >= 1, got {self.robots_tries}")
        _require(self.crawl_delay_max >= 0,
                 f"crawl delay max must be >= 0, got {self.crawl_delay_max}")  # fmt: skip


SESSION_PARAMETERS = ("jsessionid", "phpsessid", "sid", "sessionid", "session_id",
                      "aspsessionid", "cfid", "cftoken")  # fmt: skip
TRACKING_PARAMETERS = ("utm_*", "fbclid", "gclid", "msclkid", "mc_cid", "mc_eid")


@dataclass(frozen=True, slots=True)
class Traps:
    """Guards against URL spaces that never end: calendars, facets, session ids, paths that
    grow on every page. A URL a guard stops is recorded as skipped, with the guard as the
    reason, and counted in the summary. A limit of None turns its guard off.

    - `max_url_length`: characters in the URL (`url-too-long`).
    - `max_segment_repeats`: times one path segment may appear (`/a/b/a/b/a/b` has `a`
      three times; `repeated-segment`); number segments may repeat (`/2026/11/11/`).
    - `max_path_segments`: path segments (`path-too-deep`).
    - `max_queries_per_path`: URLs fetched of one host and path with different query strings
      (facets, session ids, sorted views; `too-many-queries`).
    - `max_urls_per_template`: URLs fetched of one host and path template, the path with its
      number segments abstracted away (`/cal/2026/11` and `/cal/2027/1` are `/cal/#/#`;
      `too-many-template-urls`). Only a path with two number segments or more has a
      template: a lone number is an id (`/product/123`), and a site's ids are its pages.

    The counting guards' defaults are high (10,000), so that a large site's ids are not taken
    for a trap (`item.php?id=`, `/forum/12/thread/3456`); a trap costs at most that many
    fetches. Lower them for a crawl of many unknown sites.
    - `strip_session_ids`: session ids (`SESSION_PARAMETERS`, and `;jsessionid=` in the path)
      are dropped from URLs before dedupe, so one page under many sessions is one URL (`sid`
      only when its value looks like a token: 16 letters and digits or more);
      `strip_tracking` drops `TRACKING_PARAMETERS` too (`utm_*`, `fbclid`...).

    The counting guards and the per-host budgets are kept where requests are claimed from the
    frontier (the crawl's process, or each machine's for a shared crawl, whose hosts are
    partitioned among machines), in memory: a resumed crawl counts again from zero, and so
    does a machine that takes a host's partition over from another. `Scope.max_bytes_per_host`
    is kept where the host's pages are fetched, and checked right before each fetch.

        Traps(max_queries_per_path=200, strip_tracking=True)
    """

    max_url_length: int | None = 2000
    max_segment_repeats: int | None = 2
    max_path_segments: int | None = 20
    max_queries_per_path: int | None = 10_000
    max_urls_per_template: int | None = 10_000
    strip_session_ids: bool = True
    strip_tracking: bool = False

    def __post_init__(self) -> None:
        for name in ("max_url_length", "max_segment_repeats", "max_path_segments",
                     "max_queries_per_path", "max_urls_per_template"):  # fmt: skip
            value = getattr(self, name)
            _require(value is None or value >= 1,
                     f"{name.replace('_', ' ')} must be >= 1, got {value}")  # fmt: skip

    @property
    def shortest_path_checked(self) -> int:
        """Paths with at most this many slashes pass both path guards unchecked."""
        limits = [limit for limit in (self.max_path_segments, self.max_segment_repeats) if limit]
        return min(limits) if limits else 1 << 30

    @property
    def stripped_parameters(self) -> tuple[str, ...]:
        """Query parameters dropped from URLs (a trailing * matches a prefix), lower case."""
        return (SESSION_PARAMETERS if self.strip_session_ids else ()) + (
            TRACKING_PARAMETERS if self.strip_tracking else ()
        )


@dataclass(frozen=True, slots=True)
class Sitemaps:
    """Reading each host's sitemaps in a crawl, as sources of URLs besides links.

    The sitemaps a host's robots.txt names (`Sitemap:` lines), or `/sitemap.xml` when it names
    none, are read once the crawl first reaches the host; sitemap indexes are followed,
    `nesting` levels deep at most (the protocol allows one; deeper ones are recorded as
    skipped, `sitemap-too-deep`). XML sitemaps, text sitemaps, RSS and Atom feeds are read,
    gzipped or not, each up to 50,000 URLs and 50 MB uncompressed. Each sitemap gets a record
    (`sitemap`: what it held, and why it was not read whole), and its URLs go through the
    crawl's scope, robots.txt and dedupe like links. A host's sitemaps, and all they list, are
    one hop from the page that led the crawl to the host. With `since`, URLs whose
    `<lastmod>` is older are left out (those with none are kept).

        Sitemaps(since=datetime(2026, 11, 1, tzinfo=UTC))
    """

    since: datetime | None = None
    nesting: int = 3

    def __post_init__(self) -> None:
        _require(self.nesting >= 1, f"sitemap nesting must be >= 1, got {self.nesting}")
        _require(self.since is None or self.since.tzinfo is not None,
                 "sitemaps since: give a datetime with its time zone")  # fmt: skip


DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Revisit:
    """When a crawl's pages are due again, for a recrawl (Nutch's adaptive fetch schedule).

    A page is first due `after` seconds from its fetch. At each revisit its interval is halved
    if it changed and doubled if it did not, kept within `least` and `most`, so a crawl run
    every day fetches each page about as often as it changes. A page that failed is tried
    again after its interval as it was.

        Revisit(after=7 * DAY, least=DAY, most=90 * DAY)
    """

    after: float = DAY
    least: float = 3600.0
    most: float = 90 * DAY

    def __post_init__(self) -> None:
        _require(0 < self.least <= self.after <= self.most and math.isfinite(self.most),
                 "revisit intervals: need 0 < least <= after <= most, got "
                 f"least={self.least:g}, after={self.after:g}, most={self.most:g}")  # fmt: skip

    def next_interval(self, interval: float, *, changed: bool) -> float:
        """The interval after a revisit that found the page `changed` (or not)."""
        grown = interval / 2 if changed else interval * 2
        return float(min(self.most, max(self.least, grown)))  # a bound may be an int


DEFAULT_CRAWL_LIMITS = Limits(
    concurrency=DEFAULT_CRAWL_CONCURRENCY, per_host=DEFAULT_CRAWL_PER_HOST
)


@dataclass(frozen=True, slots=True)
class CrawlConfig:
    """Everything that shapes a crawl: its requests (`fetch`), where it may go (`scope`), how
    gently (`politeness`), and what it takes from each page. Bodies are always kept (a crawl
    parses them) and redirects are recorded, not followed, so that each target passes the
    scope, robots and dedupe checks like a link. With `page_requisites`, what a browser needs to
    show a page (stylesheets, scripts, images, `<link href>`) is crawled too, at the page's
    own depth, through the same checks, so a site check finds broken assets.

    Robots directives in pages are obeyed: a page whose `<meta name="robots">` or X-Robots-Tag
    says `nofollow` has its links recorded but not followed, and `noindex` marks its record.
    `<a rel="nofollow">` links are followed unless `respect_nofollow`. With
    `canonical_dedupe`, a page whose `<link rel="canonical">` names a page already fetched is
    recorded as a duplicate of it, and its links are not followed. With `sitemaps`, each
    host's sitemaps are read too (see Sitemaps). With `extract`, each HTML page gives an item
    of what it says: `"text"`, its main text and metadata (trafilatura, the `extract` extra),
    `"meta"`, its JSON-LD, OpenGraph and `<meta>` tags.

        CrawlConfig(scope=Scope(max_depth=2), politeness=Politeness(delay=0.5))
    """

    fetch: FetchConfig = field(default_factory=lambda: FetchConfig(limits=DEFAULT_CRAWL_LIMITS))
    scope: Scope = field(default_factory=Scope)
    politeness: Politeness = field(default_factory=Politeness)
    traps: Traps = field(default_factory=Traps)
    max_links_per_page: int = DEFAULT_MAX_LINKS_PER_PAGE
    sort_query: bool = False
    page_requisites: bool = False
    respect_nofollow: bool = False
    canonical_dedupe: bool = False
    sitemaps: Sitemaps | None = None
    revisit: Revisit = field(default_factory=Revisit)
    extract: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "extract", checked_extracts(self.extract))
        _require(
            self.max_links_per_page >= 0,
            f"max links per page must be >= 0, got {self.max_links_per_page}",
        )

    def with_concurrency(self, concurrency: int) -> CrawlConfig:
        """The same crawl with `concurrency` requests in flight (one worker's share)."""
        return replace(self, fetch=self.fetch.with_concurrency(concurrency))
