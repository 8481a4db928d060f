"""The command line: flags become config objects here, and nowhere else."""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from .._config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_RECORD_HEADERS,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_USER_AGENT,
    FetchConfig,
    Limits,
    RetryPolicy,
    Timeouts,
)
from .._exceptions import ConfigError, CorocrawlError

__all__ = ["main"]

# A crawl visits few hosts at a time, so its defaults are polite ones.
CRAWL_CONCURRENCY, CRAWL_PER_HOST = 64, 4

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


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(format="corocrawl: %(message)s", level=logging.WARNING)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"corocrawl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except CorocrawlError as exc:
        print(f"corocrawl {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def build_parser() -> argparse.ArgumentParser:
    from ..testing import add_server_arguments
    from .bench import add_bench_commands
    from .crawl import add_crawl_arguments, run_crawl
    from .demo import run_demo
    from .fetch import run_fetch
    from .serve import run_serve
    from .shared import (
        add_export_arguments,
        add_status_arguments,
        add_worker_arguments,
        run_export,
        run_status,
        run_worker,
    )

    parser = argparse.ArgumentParser(
        prog="corocrawl",
        description="Fetch and crawl the web with coroutines.",
    )
    parser.add_argument("--version", action="version", version=f"corocrawl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = commands.add_parser(
        "fetch",
        help="fetch a list of URLs concurrently, one JSON record per URL",
        description="Fetch every URL of INPUT (one per line; '-' for stdin) concurrently and "
        "write one JSON record per URL as each completes.",
    )
    fetch.add_argument("input", metavar="INPUT", help="file of URLs, one per line, or '-'")
    fetch.add_argument(
        "-o", "--output", default="-", help="JSON Lines output file (default: stdout)"
    )
    add_fetch_options(fetch)
    fetch.set_defaults(run=run_fetch)

    crawl = commands.add_parser(
        "crawl",
        help="crawl from seeds within a scope, one JSON record per URL reached",
        description="Follow links from the seeds within the scope, obeying robots.txt, "
        "and write one JSON record per URL reached. With --state, kill it at any moment and "
        "run the same command again: it resumes, and no URL is lost.",
    )
    add_crawl_arguments(crawl)
    add_fetch_options(crawl, concurrency=CRAWL_CONCURRENCY, per_host=CRAWL_PER_HOST)
    crawl.set_defaults(run=run_crawl)

    worker = commands.add_parser(
        "worker",
        help="join a crawl shared through Redis, from any machine",
        description="Work on the crawl NAME that 'corocrawl crawl --frontier redis://... "
        "--crawl-id NAME SEED...' started: take a share of its hosts, fetch and parse, and "
        "exit when the whole crawl is finished. Run it on as many machines as you like.",
    )
    add_worker_arguments(worker)
    add_fetch_options(worker, concurrency=CRAWL_CONCURRENCY, per_host=CRAWL_PER_HOST)
    worker.set_defaults(run=run_worker)

    status = commands.add_parser(
        "status",
        help="where a crawl shared through Redis stands",
        description="Pending, in flight, done, failed, the longest queues by host, and each "
        "live worker of a crawl shared through Redis.",
    )
    add_status_arguments(status)
    status.set_defaults(run=run_status)

    export = commands.add_parser(
        "export",
        help="gather a shared crawl's records into one file, one record per URL",
        description="Read the workers' output files of a crawl shared through Redis and write "
        "exactly one record per URL (a URL fetched twice, after a worker died, keeps one).",
    )
    add_export_arguments(export)
    export.set_defaults(run=run_export)

    serve = commands.add_parser(
        "serve",
        help="run the bundled slow/fault test server",
        description="Run the bundled test server: slow endpoints, faults and a synthetic site.",
    )
    add_server_arguments(serve)
    serve.set_defaults(run=run_serve)

    demo = commands.add_parser(
        "demo",
        help="start the test server and fetch a batch of its slow URLs concurrently",
        description="The tutorial's lesson on this machine: start the bundled server whose '/' "
        "sleeps DELAY seconds, fetch it REQUESTS times at once, and compare with one at a time.",
    )
    demo.add_argument("--requests", type=_positive_int, default=100, help="default: 100")
    demo.add_argument("--delay", type=float, default=3.0, help="server delay in s (default: 3)")
    demo.set_defaults(run=run_demo)

    bench = commands.add_parser(
        "bench",
        help="measure corocrawl against a raw aiohttp loop",
        description="Benchmarks against the bundled server, each contender in its own process.",
    )
    add_bench_commands(bench)
    return parser


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
        "-q", "--quiet", action="store_true", help="no progress and no summary on stderr"
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
        type=_positive_int,
        default=concurrency,
        help=f"requests in flight at most (default: {concurrency})",
    )
    group.add_argument(
        "--per-host",
        type=_positive_int,
        default=per_host,
        help="requests in flight to one host at most (default: "
        f"{'no extra limit' if per_host is None else per_host})",
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
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how often a worker renews its hold on its share of the hosts; a worker silent "
        "for 5 heartbeats loses it to the others, who redo its requests (default: 1)",
    )


def fetch_config_from_args(args: argparse.Namespace) -> FetchConfig:
    """Map the fetching options onto a FetchConfig; ConfigError names the bad option."""
    return FetchConfig(
        timeouts=Timeouts(total=args.timeout, connect=args.connect_timeout, read=args.read_timeout),
        limits=Limits(
            concurrency=args.concurrency,
            per_host=args.per_host,
            max_body_bytes=args.max_bytes,
            max_redirects=args.max_redirects,
        ),
        retry=RetryPolicy(retries=args.retries),
        user_agent=args.user_agent,
        headers=tuple(_header(text) for text in args.header),
        record_headers=DEFAULT_RECORD_HEADERS + tuple(args.record_header),
        save_bodies=args.save_bodies,
        refuse_private=args.refuse_private,
    )


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ConfigError(f"--header {text!r} is not of the form 'Name: value'")
    return name.strip(), value.strip()


def _positive_int(text: str) -> int:
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


def _workers(text: str) -> int:
    if text == "auto":
        if hasattr(os, "sched_getaffinity"):
            return len(os.sched_getaffinity(0))  # the cores this process may use
        return os.cpu_count() or 1
    return _positive_int(text)


def _byte_size(text: str) -> int:
    match = _SIZE.fullmatch(text.strip().lower())
    if match is None or match["unit"] not in _UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 1048576, 500k, 10MiB, 2G)")
    return round(float(match["number"]) * _UNITS[match["unit"]])
