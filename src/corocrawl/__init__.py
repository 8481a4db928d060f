"""corocrawl: fetch and crawl the web with coroutines.

    import corocrawl

    results = corocrawl.fetch_all(["http://127.0.0.1:8080/delay/1"] * 100)
    print(sum(result.ok for result in results))

See `fetch` for results as they complete, `FetchConfig` for every limit, and `Crawler` for
following links with a durable frontier (`corocrawl.frontier`), and `write_report` for one
HTML page of the records they write.
"""

from typing import TYPE_CHECKING, Any

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
    Revisit,
    Scope,
    Sitemaps,
    Timeouts,
    Traps,
)
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
    NotArchived,
    ProtocolError,
    ProxyError,
    ReadError,
    ReadTimeout,
    ResponseTooLarge,
    RobotsUnavailable,
    SinkError,
    TLSError,
    TooManyRedirects,
    WorkerError,
)
from ._models import ErrorInfo, Exchange, FetchResult, Outcome, Request, SkipReason, Visit
from ._parquet import ParquetSink
from ._sinks import CsvSink, JsonlSink, Sink
from ._sqlite_output import SqliteSink
from ._stats import Stats, StatsSnapshot
from ._version import __version__
from ._warc import WarcWriter

if TYPE_CHECKING:
    from ._api import fetch, fetch_all
    from ._crawl.crawler import Crawler
    from ._crawl.pages import Handler
    from ._crawl.parse import Page
    from ._report import ReportSummary, write_report

# Loaded when first used, so that `import corocrawl` (and the command line's --help) does not
# load the engine and aiohttp until something fetches.
_LAZY = {
    "fetch": "._api",
    "fetch_all": "._api",
    "Crawler": "._crawl.crawler",
    "Handler": "._crawl.pages",
    "Page": "._crawl.parse",
    "ReportSummary": "._report",
    "write_report": "._report",
}

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
    "CsvSink",
    "DNSError",
    "ErrorInfo",
    "Exchange",
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
    "NotArchived",
    "Outcome",
    "Page",
    "ParquetSink",
    "Politeness",
    "ProtocolError",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "ReportSummary",
    "Request",
    "ResponseTooLarge",
    "RetryPolicy",
    "Revisit",
    "RobotsUnavailable",
    "Scope",
    "Sink",
    "SinkError",
    "Sitemaps",
    "SkipReason",
    "SqliteSink",
    "Stats",
    "StatsSnapshot",
    "TLSError",
    "Timeouts",
    "TooManyRedirects",
    "Traps",
    "Visit",
    "WarcWriter",
    "WorkerError",
    "__version__",
    "fetch",
    "fetch_all",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
