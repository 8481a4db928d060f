"""corocrawl: fetch and crawl the web with coroutines.

    import corocrawl

    results = corocrawl.fetch_all(["http://127.0.0.1:8080/delay/1"] * 100)
    print(sum(result.ok for result in results))

See `fetch` for results as they complete, `FetchConfig` for every limit, and `Crawler` for
following links with a durable frontier (`corocrawl.frontier`).
"""

from ._api import fetch, fetch_all
from ._config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_RETRIES,
    DEFAULT_USER_AGENT,
    CrawlConfig,
    FetchConfig,
    Limits,
    Politeness,
    RetryPolicy,
    Scope,
    Timeouts,
)
from ._crawl.crawler import Crawler
from ._crawl.pages import Handler
from ._crawl.parse import Page
from ._exceptions import (
    BackendUnavailable,
    BlockedURL,
    ConfigError,
    ConnectError,
    ConnectTimeout,
    CorocrawlError,
    CrawlNotFound,
    DNSError,
    FetchError,
    FetchTimeout,
    FrontierClosed,
    FrontierError,
    NetworkError,
    ProtocolError,
    ReadError,
    ReadTimeout,
    ResponseTooLarge,
    RobotsUnavailable,
    SinkError,
    TooManyRedirects,
    WorkerError,
)
from ._models import ErrorInfo, FetchResult, Outcome, Request, SkipReason
from ._sinks import JsonlSink
from ._stats import Stats, StatsSnapshot
from ._version import __version__

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_RETRIES",
    "DEFAULT_USER_AGENT",
    "BackendUnavailable",
    "BlockedURL",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "CorocrawlError",
    "CrawlConfig",
    "CrawlNotFound",
    "Crawler",
    "DNSError",
    "ErrorInfo",
    "FetchConfig",
    "FetchError",
    "FetchResult",
    "FetchTimeout",
    "FrontierClosed",
    "FrontierError",
    "Handler",
    "JsonlSink",
    "Limits",
    "NetworkError",
    "Outcome",
    "Page",
    "Politeness",
    "ProtocolError",
    "ReadError",
    "ReadTimeout",
    "Request",
    "ResponseTooLarge",
    "RetryPolicy",
    "RobotsUnavailable",
    "Scope",
    "SinkError",
    "SkipReason",
    "Stats",
    "StatsSnapshot",
    "Timeouts",
    "TooManyRedirects",
    "WorkerError",
    "__version__",
    "fetch",
    "fetch_all",
]
