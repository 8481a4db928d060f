"""The options that several commands share, and how they become config objects.

Flags become config objects here and nowhere else; a bad value is a ConfigError (or argparse's
own message) that names the option.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .._config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_LINKS_PER_PAGE,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_RECORD_HEADERS,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_TRANSPORT,
    DEFAULT_USER_AGENT,
    TRANSPORT_NAMES,
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
    proxy_url,
)
from .._exceptions import ConfigError
from .._input import BadLine, open_url_source, read_requests
from .._outputs import OUTPUT_FORMATS
from .._urls import checked_seeds
from .._warc import DEFAULT_WARC_MAX_SIZE, WarcWriter
from ..frontier import DEFAULT_HEARTBEAT, DEFAULT_OUTAGE_LIMIT

__all__ = [
    "add_crawl_options",
    "add_fetch_options",
    "add_frontier_arguments",
    "add_output_dir_argument",
    "add_seed_arguments",
    "all_seeds",
    "check_output_paths",
    "crawl_config_from_args",
    "fetch_config_from_args",
    "load_handler",
    "positive_int",
    "refuse_one_file_twice",
]

_SIZE = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]*)")
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}


def add_fetch_options(
    parser: argparse.ArgumentParser,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    per_host: int | None = None,
) -> None:
    """The options shared by every command that fetches, and how it reports."""
    parser.add_argument(
        "--stats-json", type=Path, metavar="FILE", help="write the final statistics as JSON to FILE"
    )
    parser.add_argument(
        "--stats-every",
        type=_seconds,
        metavar="SECONDS",
        help="also print the statistics so far as one JSON line on stderr this often "
        "(for a log shipper)",
    )
    parser.add_argument(
        "--metrics-port",
        type=_listen_address,
        metavar="[HOST:]PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics while the run lasts "
        "(HOST: 127.0.0.1 unless given; 0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress and no summary on stderr"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="say more of what is being done on stderr: -v what each host's robots.txt said "
        "and each worker process, -vv every retry and deferral too",
    )
    group = parser.add_argument_group("fetching")
    group.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="worker processes, each with its own event loop and a share of the hosts and "
        "of --concurrency; 'auto' for one per core (default: 1, all in this process)",
    )
    group.add_argument(
        "--concurrency",
        type=positive_int,
        default=concurrency,
        help=f"requests in flight at most (default: {concurrency})",
    )
    group.add_argument(
        "--per-host",
        type=positive_int,
        default=per_host,
        help="requests in flight to one host at most (default: "
        f"{'no extra limit' if per_host is None else per_host})",
    )
    group.add_argument(
        "--per-ip",
        type=positive_int,
        metavar="N",
        help="requests in flight to one IP address at most, over all the hosts on it; each "
        "host's name is looked up once before its first request (default: no extra limit)",
    )
    group.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"whole fetch, body and redirects included, in s (default: {DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "--connect-timeout",
        type=_seconds,
        default=DEFAULT_CONNECT_TIMEOUT,
        help=f"opening a connection, in s (default: {DEFAULT_CONNECT_TIMEOUT:g})",
    )
    group.add_argument(
        "--read-timeout",
        type=_seconds,
        default=DEFAULT_READ_TIMEOUT,
        help="give up after this long without data from the server, in s "
        "(default: off, since --timeout bounds every fetch)",
    )
    group.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        help="extra attempts after connection errors, timeouts, 429 and 5xx, "
        f"with exponential backoff and jitter (default: {DEFAULT_RETRIES})",
    )
    group.add_argument(
        "--max-bytes",
        type=_byte_size,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest body after decompression, e.g. 500k, 10MiB "
        f"(default: {DEFAULT_MAX_BODY_BYTES // 1024**2}MiB)",
    )
    group.add_argument(
        "--max-redirects",
        type=int,
        default=DEFAULT_MAX_REDIRECTS,
        help=f"redirect hops followed (default: {DEFAULT_MAX_REDIRECTS})",
    )
    group.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra request header (repeatable)",
    )
    group.add_argument(
        "--user-agent",
        default=DEFAULT_USER_AGENT,
        help=f"User-Agent header (default: {DEFAULT_USER_AGENT})",
    )
    group.add_argument(
        "--record-header",
        action="append",
        default=[],
        metavar="NAME",
        help="also record this response header (repeatable)",
    )
    group.add_argument(
        "--save-bodies",
        type=Path,
        metavar="DIR",
        help="write bodies to DIR, in files named by their SHA-256",
    )
    group.add_argument(
        "--credentials-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="send -H Authorization, Cookie and Proxy-Authorization only to ORIGIN "
        "(https://host[:port], repeatable; a crawl's default: its seeds' origins)",
    )
    group.add_argument(
        "--transport",
        choices=TRANSPORT_NAMES,
        default=DEFAULT_TRANSPORT,
        help=f"the HTTP client library: {', '.join(TRANSPORT_NAMES)} "
        f"(default: {DEFAULT_TRANSPORT})",
    )
    versions = group.add_mutually_exclusive_group()
    versions.add_argument(
        "--http1.1",
        dest="http_version",
        action="store_const",
        const="1.1",
        default="2",
        help="speak HTTP/1.1 only (by default HTTP/2 where a TLS server offers it)",
    )
    versions.add_argument(
        "--http3",
        dest="http_version",
        action="store_const",
        const="3",
        help="try HTTP/3 first (QUIC; the curl transport only)",
    )
    group.add_argument(
        "--ca-bundle",
        type=Path,
        metavar="FILE",
        help="also trust the certificate authorities in FILE (PEM): an intranet's own CA, "
        "or a test server's",
    )
    proxies = group.add_mutually_exclusive_group()
    proxies.add_argument(
        "--proxy",
        metavar="URL",
        help="send every request through this proxy: http://, https://, socks5:// or "
        "socks5h:// (the proxy resolves names), with user:password@ if it asks",
    )
    proxies.add_argument(
        "--proxy-file",
        type=Path,
        metavar="FILE",
        help="proxies, one URL a line, taken in turn for each request; one that fails 3 times "
        "in a row is rested (60 s, then longer)",
    )
    group.add_argument(
        "-k",
        "--insecure",
        action="store_true",
        help="trust any TLS certificate, as curl -k does: for a test host only "
        "(--ca-bundle trusts one CA instead)",
    )
    group.add_argument(
        "--refuse-private",
        action="store_true",
        help="refuse private, loopback and link-local addresses (checked on the address "
        "connected to, every redirect hop included): for URLs you do not control",
    )


def add_frontier_arguments(parser: argparse._ActionsContainer, *, required: bool) -> None:
    parser.add_argument(
        "--frontier",
        required=required,
        metavar="redis://HOST:PORT/DB",
        help="a Redis (>= 7) or Valkey server shared by every worker of the crawl",
    )
    parser.add_argument(
        "--crawl-id",
        required=required,
        metavar="NAME",
        help="the crawl's name: its keys in Redis and its output files",
    )


def add_output_dir_argument(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="with a Redis frontier, each worker process writes DIR/NAME.WORKER.jsonl "
        "(default: the current directory); gather them with 'corocrawl export'",
    )
    parser.add_argument(
        "--heartbeat",
        type=_seconds,
        default=DEFAULT_HEARTBEAT,
        metavar="SECONDS",
        help="how often a worker renews its hold on its share of the hosts; a worker silent "
        f"for 5 heartbeats loses it to the others, who redo its requests "
        f"(default: {DEFAULT_HEARTBEAT:g})",
    )
    parser.add_argument(
        "--outage-limit",
        type=_seconds,
        default=DEFAULT_OUTAGE_LIMIT,
        metavar="SECONDS",
        help="how long a worker waits out a Redis outage before it stops (exit 1); what it "
        f"held is redone by others (default: {DEFAULT_OUTAGE_LIMIT:g})",
    )


def _proxies_from_args(args: argparse.Namespace) -> tuple[str, ...]:
    if args.proxy is not None:
        return (args.proxy,)
    if args.proxy_file is None:
        return ()
    return read_proxy_file(args.proxy_file)


def read_proxy_file(path: Path) -> tuple[str, ...]:
    """The proxies of a file, one URL a line (blank lines and # comments aside). A bad line
    is reported on stderr as FILE:LINE and skipped; a file with none is a ConfigError."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"--proxy-file {str(path)!r}: {reason}") from None
    proxies = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            proxies.append(proxy_url(text))
        except ConfigError as exc:
            print(f"corocrawl: {path}:{number}: skipped: {exc}", file=sys.stderr)
    if not proxies:
        raise ConfigError(f"--proxy-file {str(path)!r}: no proxy URL in it")
    return tuple(proxies)


def _checked_ca_bundle(path: Path) -> Path:
    """The file, once it has been read as certificates: a bad one is named before any fetch."""
    import ssl

    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except FileNotFoundError:
        raise ConfigError(f"--ca-bundle {str(path)!r}: no such file") from None
    except ssl.SSLError as exc:
        raise ConfigError(
            f"--ca-bundle {str(path)!r}: no PEM certificates in it ({exc.reason or exc})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"--ca-bundle {str(path)!r}: {exc.strerror}") from None
    return path


def add_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        help="the outputs' format (default: from the file name: .csv, .parquet (a folder of "
        "parts), .sqlite or .db; else JSON Lines)",
    )
    parser.add_argument(
        "--part-rows",
        type=positive_int,
        default=100_000,
        metavar="N",
        help="rows of each closed part of a Parquet output (default: 100000)",
    )


def add_archive_options(parser: argparse.ArgumentParser) -> None:
    """--warc and its size: what `fetch` and `crawl` can archive."""
    group = parser.add_argument_group("archive")
    group.add_argument(
        "--warc",
        type=Path,
        metavar="FILE",
        help="also write every request and response, redirects included, as they went over "
        "the wire to WARC/1.1 files (FILE, then NAME-00001.warc.gz, ...); each record in the "
        "output says where its response is (warc: file, offset, length)",
    )
    group.add_argument(
        "--warc-max-size",
        type=_positive_size,
        metavar="SIZE",
        help="start a new WARC file past this size (default: 1GB)",
    )
    group.add_argument(
        "--cdx",
        type=Path,
        metavar="FILE",
        help="with --warc: also write a CDXJ index of its records (sorted at the end, as pywb "
        "reads it; needs the cdx extra: pip install 'corocrawl[cdx]')",
    )
    group.add_argument(
        "--replay",
        type=Path,
        action="append",
        default=[],
        metavar="WARC",
        help="answer the URLs these WARC files (or directories of them) hold from there, "
        "not from the network: rerun a crawl's extraction and scope offline (repeatable)",
    )
    group.add_argument(
        "--replay-only",
        action="store_true",
        help="record a URL the archive does not hold as skipped (not-archived) instead of "
        "fetching it",
    )


def fetch_config_from_args(args: argparse.Namespace) -> FetchConfig:
    """Map the fetching options onto a FetchConfig; ConfigError names the bad option."""
    return FetchConfig(
        timeouts=Timeouts(total=args.timeout, connect=args.connect_timeout, read=args.read_timeout),
        limits=Limits(
            concurrency=args.concurrency,
            per_host=args.per_host,
            per_ip=args.per_ip,
            max_body_bytes=args.max_bytes,
            max_redirects=args.max_redirects,
        ),
        retry=RetryPolicy(retries=args.retries),
        user_agent=args.user_agent,
        headers=tuple(_header(text) for text in args.header),
        record_headers=DEFAULT_RECORD_HEADERS + tuple(args.record_header),
        save_bodies=args.save_bodies,
        keep_exchanges=getattr(args, "warc", None) is not None,
        replay=tuple(getattr(args, "replay", ())),
        replay_only=getattr(args, "replay_only", False),
        refuse_private=args.refuse_private,
        transport=args.transport,
        verify_tls=not args.insecure,
        http_version=args.http_version,
        proxies=_proxies_from_args(args),
        ca_bundle=None if args.ca_bundle is None else _checked_ca_bundle(args.ca_bundle),
        credentials_origins=None
        if args.credentials_origin is None
        else tuple(args.credentials_origin),
    )


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ConfigError(f"--header {text!r} is not of the form 'Name: value'")
    return name.strip(), value.strip()


def _listen_address(text: str) -> str:
    """`PORT` (on 127.0.0.1) or `HOST:PORT`, for --metrics-port: as HOST:PORT."""
    host, _, port = text.rpartition(":")
    number = int(port) if port.isdigit() else -1
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError("give PORT or HOST:PORT")
    return f"{host or '127.0.0.1'}:{number}"


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration(text: str) -> float:
    """An argparse type: a positive duration, in seconds or with a unit (90s, 30m, 12h, 7d,
    2w)."""
    number, unit = (text[:-1], text[-1]) if text[-1:].lower() in _DURATION_UNITS else (text, "s")
    try:
        return _seconds(number.strip() or text) * _DURATION_UNITS[unit.lower()]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: a number of seconds, or with s, m, h, d or w"
        ) from None


def _add_recrawl_options(crawl: argparse.ArgumentParser) -> None:
    group = crawl.add_argument_group("recrawl")
    group.add_argument(
        "--recrawl",
        action="store_true",
        help="also revisit the pages of --state (or of the shared crawl) that are due, each "
        "asked for only if it changed (If-None-Match, If-Modified-Since); unchanged ones are "
        "recorded as such, changed ones parsed for new links",
    )
    group.add_argument(
        "--revisit-after",
        type=duration,
        metavar="TIME",
        help="a new page is due again this long after its fetch; then the interval halves "
        "each time it changed and doubles each time it did not (90s, 30m, 12h, 7d, 2w; "
        "default: 1d). Not kept in --state: give the --revisit options to every run",
    )
    group.add_argument(
        "--revisit-min",
        type=duration,
        metavar="TIME",
        help="the shortest a page's interval gets (default: 1h, or --revisit-after if shorter)",
    )
    group.add_argument(
        "--revisit-max",
        type=duration,
        metavar="TIME",
        help="the longest a page's interval gets (default: 90d, or --revisit-after if longer)",
    )


def _workers(text: str) -> int:
    if text == "auto":
        if hasattr(os, "sched_getaffinity"):
            return len(os.sched_getaffinity(0))  # the cores this process may use
        return os.cpu_count() or 1
    return positive_int(text)


def _byte_size(text: str) -> int:
    match = _SIZE.fullmatch(text.strip().lower())
    if match is None or match["unit"] not in _UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 1048576, 500k, 10MiB, 2G)")
    return round(float(match["number"]) * _UNITS[match["unit"]])


def _positive_size(text: str) -> int:
    size = _byte_size(text)
    if size < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1 byte")
    return size


def add_crawl_options(crawl: argparse.ArgumentParser) -> None:
    """Scope and politeness: the options that shape a crawl, `crawl`'s and a shared one's."""
    scope = crawl.add_argument_group("scope (default: the seeds' hosts)")
    scope.add_argument(
        "--allow-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="also follow links to DOMAIN and its subdomains (repeatable)",
    )
    scope.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="REGEX",
        help="follow only URLs matching one of these (repeatable)",
    )
    scope.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="REGEX",
        help="never follow URLs matching this (repeatable)",
    )
    scope.add_argument("--max-depth", type=int, help="links from a seed at most")
    scope.add_argument("--max-pages", type=int, help="requests fetched at most")
    scope.add_argument(
        "--sort-query",
        action="store_true",
        help="treat URLs whose query differs only in order as one",
    )
    scope.add_argument(
        "--page-requisites",
        action="store_true",
        help="also fetch what pages need to render (stylesheets, scripts, images, "
        "<link href>), at the page's depth, like wget -p",
    )
    scope.add_argument(
        "--respect-nofollow",
        action="store_true",
        help='do not follow <a rel="nofollow"> links (a page\'s meta robots or X-Robots-Tag '
        "nofollow is always obeyed)",
    )
    scope.add_argument(
        "--canonical-dedupe",
        action="store_true",
        help='a page whose <link rel="canonical"> names a page already fetched is recorded as '
        "its duplicate (duplicate_of), and its links are not followed",
    )
    scope.add_argument(
        "--max-links-per-page",
        type=int,
        default=DEFAULT_MAX_LINKS_PER_PAGE,
        help=f"links taken from one page at most (default: {DEFAULT_MAX_LINKS_PER_PAGE})",
    )
    sitemaps = crawl.add_argument_group("sitemaps")
    sitemaps.add_argument(
        "--sitemaps",
        action="store_true",
        help="also read each host's sitemaps (named in robots.txt, else /sitemap.xml; "
        "indexes, gzip, text, RSS and Atom) for URLs to crawl",
    )
    sitemaps.add_argument(
        "--sitemap-since",
        type=date_option,
        metavar="DATE",
        help="with --sitemaps (implied): leave out sitemap URLs whose <lastmod> is before "
        "DATE (2026-11-01, or with a time and zone; UTC if none)",
    )
    _add_recrawl_options(crawl)
    _add_trap_options(crawl)
    defaults = Politeness()
    polite = crawl.add_argument_group("politeness")
    polite.add_argument(
        "--delay",
        type=float,
        default=defaults.delay,
        help=f"least time between two requests to one host, in s (default: {defaults.delay:g})",
    )
    polite.add_argument(
        "--max-delay",
        type=float,
        default=defaults.max_delay,
        metavar="S",
        help="the most a host's adaptive delay grows to, after 429s or as its latency grows "
        f"(default: {defaults.max_delay:g})",
    )
    polite.add_argument(
        "--target-concurrency",
        type=float,
        metavar="N",
        help="requests in flight a host's delay aims at, from its latency (AutoThrottle's "
        "target; default: --per-host)",
    )
    polite.add_argument(
        "--adaptive-delay",
        action="store_true",
        help="adapt each host's delay to its latency, between --delay and --max-delay "
        "(AutoThrottle); a 429 or 503 slows a host down either way",
    )
    polite.add_argument(
        "--ignore-robots",
        action="store_true",
        help="do not read robots.txt (it is obeyed by default)",
    )


def _add_trap_options(crawl: argparse.ArgumentParser) -> None:
    traps = crawl.add_argument_group(
        "budgets and crawl-trap guards (a URL stopped is recorded as skipped, with the reason; "
        "0 turns a guard off)"
    )
    traps.add_argument("--max-pages-per-host", type=_limit_or_off, metavar="N",
                       help="requests fetched from one host at most")  # fmt: skip
    traps.add_argument("--max-bytes-per-host", type=_byte_size, metavar="SIZE",
                       help="bytes received from one host at most (e.g. 100MiB); its last "
                       "requests may still be in flight when it is reached")  # fmt: skip
    traps.add_argument("--max-depth-per-host", type=int, metavar="N",
                       help="links followed within one host from where the crawl entered it "
                       "(0: only the pages it entered by)")  # fmt: skip
    defaults = Traps()
    for option, dest, help_text in (
        ("--max-url-length", "max_url_length", "characters in a URL"),
        ("--max-segment-repeats", "max_segment_repeats",
         "times one path segment may appear (/a/b/a/b/a/b)"),
        ("--max-path-segments", "max_path_segments", "path segments"),
        ("--max-queries-per-path", "max_queries_per_path",
         "URLs fetched of one host and path with different queries (facets)"),
        ("--max-urls-per-template", "max_urls_per_template",
         "URLs fetched of one host and path template, numbers abstracted (/cal/2026/11)"),
    ):  # fmt: skip
        traps.add_argument(
            option,
            type=_limit_or_off,
            default=getattr(defaults, dest),
            metavar="N",
            help=f"{help_text} (default: {getattr(defaults, dest)})",
        )
    traps.add_argument(
        "--keep-session-ids",
        action="store_true",
        help="keep session ids (jsessionid, phpsessid, sid...) in URLs; they are dropped by "
        "default, so one page under many sessions is one URL",
    )
    traps.add_argument(
        "--strip-tracking",
        action="store_true",
        help="drop tracking parameters (utm_*, fbclid, gclid...) from URLs",
    )


def date_option(text: str) -> datetime:
    """An argparse type: a date as `--sitemap-since` takes it."""
    from .._crawl.sitemaps import parse_date  # the crawl's modules load only to run one

    when = parse_date(text)
    if when is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (such as 2026-11-01)")
    return when


def _limit_or_off(text: str) -> int | None:
    value = int(text) if text.strip().isdigit() else -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (0 turns the guard off)")
    return value or None


def crawl_config_from_args(args: argparse.Namespace) -> CrawlConfig:
    """Map the crawl options onto a CrawlConfig; ConfigError names the bad value."""
    return CrawlConfig(
        fetch=fetch_config_from_args(args),
        scope=Scope(
            allow_domains=tuple(args.allow_domain),
            include=tuple(args.include),
            exclude=tuple(args.exclude),
            max_depth=args.max_depth,
            max_pages=args.max_pages,
            max_pages_per_host=args.max_pages_per_host,
            max_bytes_per_host=args.max_bytes_per_host or None,
            max_depth_per_host=args.max_depth_per_host,
        ),
        traps=Traps(
            max_url_length=args.max_url_length,
            max_segment_repeats=args.max_segment_repeats,
            max_path_segments=args.max_path_segments,
            max_queries_per_path=args.max_queries_per_path,
            max_urls_per_template=args.max_urls_per_template,
            strip_session_ids=not args.keep_session_ids,
            strip_tracking=args.strip_tracking,
        ),
        politeness=Politeness(
            delay=args.delay,
            respect_robots=not args.ignore_robots,
            adaptive=args.adaptive_delay,
            max_delay=max(args.max_delay, args.delay),
            target_concurrency=args.target_concurrency,
        ),
        max_links_per_page=args.max_links_per_page,
        sort_query=args.sort_query,
        page_requisites=args.page_requisites,
        respect_nofollow=args.respect_nofollow,
        canonical_dedupe=args.canonical_dedupe,
        sitemaps=Sitemaps(since=args.sitemap_since)
        if args.sitemaps or args.sitemap_since is not None
        else None,
        revisit=_revisit(args),
        extract=tuple(getattr(args, "extract", ())),
    )


def _revisit(args: argparse.Namespace) -> Revisit:
    """What is not given makes room for what is: a bound for the interval, the interval
    within the bounds."""
    defaults = Revisit()
    after, least, most = args.revisit_after, args.revisit_min, args.revisit_max
    if after is None:
        after = min(max(defaults.after, least or 0.0), most or math.inf)
    least = min(defaults.least, after) if least is None else least
    most = max(defaults.most, after) if most is None else most
    if not least <= after <= most:
        raise ConfigError(
            f"--revisit-min {_shown(least)} <= --revisit-after {_shown(after)} <= "
            f"--revisit-max {_shown(most)} does not hold"
        )
    return Revisit(after=after, least=least, most=most)


def _shown(seconds: float) -> str:
    """A duration as --revisit-after takes it: in the largest unit that divides it."""
    for unit, size in reversed(_DURATION_UNITS.items()):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def add_seed_arguments(crawl: argparse.ArgumentParser) -> None:
    crawl.add_argument("seeds", nargs="*", metavar="SEED", help="URLs to start from")
    crawl.add_argument(
        "-i", "--input", metavar="FILE", help="more seeds, one per line ('-' for stdin)"
    )


async def all_seeds(args: argparse.Namespace, say: Callable[[str], None]) -> list[str]:
    """The command line's seeds and those of `--input`, whose bad lines are reported."""
    seeds = checked_seeds(args.seeds)
    if args.input is None:
        return seeds
    stream, source = open_url_source(args.input)

    def report(bad: BadLine) -> None:
        say(f"skipped seed {bad}")

    return seeds + [request.url async for request in read_requests(stream, source, report)]


def load_handler(spec: str) -> Callable[..., Any]:
    """The page handler `package.module:function` names (the module is imported, as uvicorn
    imports an app), so that worker processes can import it by the same name."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute.isidentifier():
        raise ConfigError(f"--handler {spec!r}: give it as package.module:function")
    if "" not in sys.path and os.getcwd() not in sys.path:
        # As uvicorn does: a handler module in the current directory is found. Worker
        # processes are spawned with this path, so they find it too.
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # not found, or failing as it loads (a SyntaxError, say)
        reason = f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"--handler {spec!r}: cannot import {module_name!r}: {reason}") from None
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise ConfigError(f"--handler {spec!r}: {module_name} has no function {attribute!r}")
    return handler  # type: ignore[no-any-return]


def refuse_one_file_twice(files: dict[str, str | Path | None]) -> None:
    """ConfigError when two of these options (input, outputs, state) name one file, by its
    identity, so a symlink or a hard link is caught too: an output would destroy an input."""
    seen: dict[tuple[int, int] | str, str] = {}
    for option, path in files.items():
        if path is None or str(path) == "-":
            continue
        key: tuple[int, int] | str
        try:
            status = os.stat(path)
        except OSError:
            key = str(Path(path).resolve())  # not there yet: two options may still name it
        else:
            key = (status.st_dev, status.st_ino)
        if key in seen:
            raise ConfigError(f"{option} {str(path)!r} is the same file as {seen[key]}")
        seen[key] = f"{option} {str(path)!r}"


def check_output_paths(args: argparse.Namespace) -> None:
    """ConfigError now, before the first request, for a --stats-json or --save-bodies that
    could not be written at the end (a missing or read-only directory)."""
    if args.stats_json is not None:
        _require_writable_directory("--stats-json", args.stats_json, args.stats_json.parent)
        if args.stats_json.is_dir():
            raise ConfigError(f"--stats-json {str(args.stats_json)!r} is a directory")
    if args.save_bodies is not None:
        try:
            args.save_bodies.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--save-bodies {str(args.save_bodies)!r}: {exc.strerror}") from None
        _require_writable_directory("--save-bodies", args.save_bodies, args.save_bodies)
    for option in ("warc", "cdx"):
        path = getattr(args, option, None)
        if path is not None:
            _require_writable_directory(f"--{option}", path, path.parent)
            if path.is_dir():
                raise ConfigError(f"--{option} {str(path)!r} is a directory")


def warc_writer_from_args(args: argparse.Namespace) -> WarcWriter | None:
    """The archive --warc asks for (with its --warc-max-size and --cdx), or None."""
    if args.warc is None:
        given = [name for name in ("warc_max_size", "cdx") if getattr(args, name) is not None]
        if given:
            raise ConfigError(f"--{given[0].replace('_', '-')} is for --warc: give --warc too")
        return None
    max_size = DEFAULT_WARC_MAX_SIZE if args.warc_max_size is None else args.warc_max_size
    return WarcWriter(args.warc, max_size=max_size, cdx=args.cdx)


def _require_writable_directory(option: str, path: Path, directory: Path) -> None:
    shown = str(directory) or "."
    if not directory.is_dir():
        raise ConfigError(f"{option} {str(path)!r}: no such directory {shown!r}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {str(path)!r}: directory {shown!r} is not writable")
