"""`corocrawl crawl`: seeds and scope rules in, one JSON record per URL reached out."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from .._crawl.crawler import CrawlConfig, Crawler
from .._crawl.scope import Scope
from .._exceptions import ConfigError
from .._input import BadLine, open_url_source, read_requests
from .._loop import run
from .._sinks import JsonlSink
from .._urls import fetchable_url
from ..frontier import Frontier, MemoryFrontier, SqliteFrontier
from .driver import EXIT_INTERRUPTED, Interrupts, await_run, close_sinks, print_to_stderr
from .main import add_frontier_arguments, add_output_dir_argument, fetch_config_from_args
from .progress import format_summary, show_progress

__all__ = ["LABEL", "add_crawl_arguments", "drive_crawl", "run_crawl", "seeds_from"]

LABEL = "corocrawl crawl"


def add_crawl_arguments(crawl: argparse.ArgumentParser) -> None:
    crawl.add_argument("seeds", nargs="*", metavar="SEED", help="URLs to start from")
    crawl.add_argument(
        "-i", "--input", metavar="FILE", help="more seeds, one per line ('-' for stdin)"
    )
    crawl.add_argument(
        "-o",
        "--output",
        default="-",
        help="JSON Lines output, one record per URL (default: stdout)",
    )
    crawl.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="SQLite state file: run the same command again to resume "
        "(default: in memory, not resumable)",
    )
    crawl.add_argument(
        "--items",
        type=Path,
        metavar="FILE",
        help="JSON Lines output for items a page handler yields",
    )
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
        "--max-links-per-page",
        type=int,
        default=1000,
        help="links taken from one page at most (default: 1000)",
    )
    polite = crawl.add_argument_group("politeness")
    polite.add_argument(
        "--delay",
        type=float,
        default=0.0,
        help="least time between two requests to one host, in s (default: 0)",
    )
    polite.add_argument(
        "--ignore-robots",
        action="store_true",
        help="do not read robots.txt (it is obeyed by default)",
    )
    shared = crawl.add_argument_group(
        "shared crawl (many workers, many machines: see docs/scaling.md)"
    )
    add_frontier_arguments(shared, required=False)
    add_output_dir_argument(shared)


def crawl_config_from_args(args: argparse.Namespace) -> CrawlConfig:
    return CrawlConfig(
        fetch=fetch_config_from_args(args),
        scope=Scope(
            allow_domains=tuple(args.allow_domain),
            include=tuple(args.include),
            exclude=tuple(args.exclude),
            max_depth=args.max_depth,
            max_pages=args.max_pages,
        ),
        delay=args.delay,
        respect_robots=not args.ignore_robots,
        max_links_per_page=args.max_links_per_page,
        sort_query=args.sort_query,
    )


def run_crawl(args: argparse.Namespace) -> int:
    if args.frontier is not None or args.crawl_id is not None:
        if args.frontier is None or args.crawl_id is None:
            raise ConfigError("a shared crawl needs both --frontier and --crawl-id")
        if not args.frontier.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"--frontier {args.frontier!r}: give a redis:// URL")
        from .shared import run_shared_crawl

        return run_shared_crawl(args)
    config = crawl_config_from_args(args)
    for seed in args.seeds:
        try:
            fetchable_url(seed)
        except ValueError as exc:
            raise ConfigError(f"seed {seed!r}: {exc}") from None
    if not args.seeds and args.input is None and (args.state is None or not args.state.exists()):
        raise ConfigError("give at least one seed URL, or -i FILE")
    return run(_crawl(args, config))


async def _crawl(args: argparse.Namespace, config: CrawlConfig) -> int:
    seeds = list(args.seeds)
    if args.input is not None:
        seeds += await seeds_from(args.input)
    frontier: Frontier
    if args.state is not None:
        frontier = await SqliteFrontier.open(args.state)
        resumed = frontier.resumed
    else:
        frontier, resumed = MemoryFrontier(), False
    try:
        if resumed:
            counts = frontier.counts()
            print_to_stderr(
                f"{LABEL}: resuming {args.state}: {counts.done + counts.failed + counts.skipped:,} "
                f"done, {counts.pending:,} pending"
            )
        output = JsonlSink(args.output, append=resumed)
        items = JsonlSink(args.items, append=resumed) if args.items else None
        crawler = Crawler(
            config, frontier=frontier, output=output, items=items, workers=args.workers
        )
        return await drive_crawl(args, crawler, seeds, output, items, frontier)
    finally:
        await frontier.close()


async def drive_crawl(
    args: argparse.Namespace,
    crawler: Crawler,
    seeds: list[str],
    output: JsonlSink,
    items: JsonlSink | None,
    frontier: Frontier,
    *,
    label: str = LABEL,
    shared: bool = False,
    interrupt_signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
) -> int:
    """Run the crawl to its end or a Ctrl-C, then report. `shared`: the frontier's counts are
    a whole crawl's, of which this process did a part."""
    run_task = asyncio.create_task(crawler.run(seeds))
    interrupts = Interrupts(
        stop=crawler.stop,
        in_flight=lambda: crawler.stats.in_flight,
        run_task=run_task,
        say=lambda text: print_to_stderr(f"{label}: {text}"),
        signals=interrupt_signals,
    )
    with interrupts:
        async with show_progress(crawler.stats, sys.stderr, label=label, quiet=args.quiet):
            failure = await await_run(run_task, interrupts)
    closing_failure = close_sinks(output, items)
    failure = failure or closing_failure
    snapshot = crawler.stats.snapshot()
    counts = frontier.counts()
    if args.stats_json is not None:
        frontier_counts = {
            "pending": counts.pending,
            "leased": counts.leased,
            "done": counts.done,
            "failed": counts.failed,
            "skipped": counts.skipped,
        }
        document = {**snapshot.to_dict(), "frontier": frontier_counts}
        args.stats_json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    if not args.quiet:
        print(
            format_summary(label, snapshot, latency_sum=crawler.stats.latency_sum), file=sys.stderr
        )
        left = counts.pending + counts.leased
        print(
            f"  {'whole crawl' if shared else 'frontier'}: {counts.done:,} done, "
            f"{counts.failed:,} failed, {counts.skipped:,} skipped, {left:,} left",
            file=sys.stderr,
        )
    if failure is not None:
        raise failure
    return EXIT_INTERRUPTED if interrupts.count else 0


async def seeds_from(path: str) -> list[str]:
    stream, source = open_url_source(path)

    def report(bad: BadLine) -> None:
        print_to_stderr(f"{LABEL}: skipped seed {bad}")

    return [request.url async for request in read_requests(stream, source, report)]
