"""`corocrawl`: the command line's entry point, and the only importer of the commands.

Each command's module declares its options and runs it; the engine and the crawl are loaded
only when a command runs, so `--version` and `--help` answer at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .._config import DEFAULT_CRAWL_CONCURRENCY, DEFAULT_CRAWL_PER_HOST
from .._exceptions import ConfigError, CorocrawlError
from .._version import __version__
from . import bench, crawl, demo, fetch, report, serve, shared, sitemap
from .config_file import add_config_options, print_config, with_config_file
from .options import add_fetch_options

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(format="corocrawl: %(message)s", level=logging.WARNING)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "config", None) is not None or getattr(args, "print_config", False):
            command = _command_parser(parser, args.command)
            if args.config is not None:
                with_config_file(command, args.config, given=args)
                args = parser.parse_args(argv)  # the flags over the file's values
            if args.print_config:
                print(print_config(command, args), end="")
                return 0
        verbose = getattr(args, "verbose", 0)
        if verbose:
            level = logging.INFO if verbose == 1 else logging.DEBUG
            logging.getLogger("corocrawl").setLevel(level)
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


def _command_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of one command (argparse keeps them only in its subparsers action)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            command: argparse.ArgumentParser = action.choices[name]
            return command
    raise LookupError(name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corocrawl",
        description="Fetch and crawl the web with coroutines.",
    )
    parser.add_argument("--version", action="version", version=f"corocrawl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    command = commands.add_parser(
        "fetch",
        help="fetch a list of URLs concurrently, one JSON record per URL",
        description="Fetch every URL of INPUT (one per line; '-' for stdin) concurrently and "
        "write one JSON record per URL as each completes.",
    )
    fetch.add_arguments(command)
    add_config_options(command)
    command.set_defaults(run=fetch.run_fetch)

    command = commands.add_parser(
        "crawl",
        help="crawl from seeds within a scope, one JSON record per URL reached",
        description="Follow links from the seeds within the scope, obeying robots.txt, "
        "and write one JSON record per URL reached. With --state, kill it at any moment and "
        "run the same command again: it resumes, and no URL is lost.",
    )
    crawl.add_arguments(command)
    add_config_options(command)
    command.set_defaults(run=crawl.run_crawl)

    command = commands.add_parser(
        "sitemap",
        help="list the URLs of a site's sitemaps, one JSON record per URL",
        description="Read the sitemaps of a site (those its robots.txt names, else "
        "/sitemap.xml), or one sitemap and the sitemaps it leads to, and write one JSON record "
        "per URL they list: url, lastmod, and the sitemap it is in. XML, gzip, text, RSS and "
        "Atom; each up to 50,000 URLs and 50 MB.",
    )
    sitemap.add_arguments(command)
    command.set_defaults(run=sitemap.run_sitemap)

    command = commands.add_parser(
        "worker",
        help="join a crawl shared through Redis, from any machine",
        description="Work on the crawl NAME that 'corocrawl crawl --frontier redis://... "
        "--crawl-id NAME SEED...' started: take a share of its hosts, fetch and parse, and "
        "exit when the whole crawl is finished. Run it on as many machines as you like.",
    )
    shared.add_worker_arguments(command)
    add_fetch_options(
        command, concurrency=DEFAULT_CRAWL_CONCURRENCY, per_host=DEFAULT_CRAWL_PER_HOST
    )
    command.set_defaults(run=shared.run_worker)

    command = commands.add_parser(
        "status",
        help="where a crawl shared through Redis stands",
        description="Pending, in flight, done, failed, the longest queues by host, and each "
        "live worker of a crawl shared through Redis.",
    )
    shared.add_status_arguments(command)
    command.set_defaults(run=shared.run_status)

    command = commands.add_parser(
        "export",
        help="gather a shared crawl's records into one file, one record per URL",
        description="Read the workers' output files of a crawl shared through Redis and write "
        "exactly one record per URL (a URL fetched twice, after a worker died, keeps one).",
    )
    shared.add_export_arguments(command)
    command.set_defaults(run=shared.run_export)

    command = commands.add_parser(
        "report",
        help="one self-contained HTML page of the records of fetches and crawls",
        description="Read the records that 'corocrawl fetch' and 'crawl' wrote (JSON Lines or "
        "CSV) once, in bounded memory, and write one HTML page that needs no network: totals, "
        "status and errors, pages/s over time, latency, hosts, broken links, redirect chains "
        "and loops, the slowest and largest pages, and skip reasons.",
    )
    report.add_arguments(command)
    command.set_defaults(run=report.run_report)

    command = commands.add_parser(
        "serve",
        help="run the bundled slow/fault test server",
        description="Run the bundled test server: slow endpoints, faults and a synthetic site.",
    )
    serve.add_server_arguments(command)
    command.set_defaults(run=serve.run_serve)

    command = commands.add_parser(
        "demo",
        help="start the test server and fetch a batch of its slow URLs concurrently",
        description="The tutorial's lesson on this machine: start the bundled server whose '/' "
        "sleeps DELAY seconds, fetch it REQUESTS times at once, and compare with one at a time.",
    )
    demo.add_arguments(command)
    command.set_defaults(run=demo.run_demo)

    command = commands.add_parser(
        "bench",
        help="measure corocrawl against a raw aiohttp loop",
        description="Benchmarks against the bundled server, each contender in its own process.",
    )
    bench.add_bench_commands(command)
    return parser
