"""`corocrawl crawl`: seeds and scope rules in, one JSON record per URL reached out."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._config import DEFAULT_CRAWL_CONCURRENCY, DEFAULT_CRAWL_PER_HOST, EXTRACTS, CrawlConfig
from .._exceptions import ConfigError
from .._loop import run
from .._outputs import open_sink
from .._urls import checked_seeds
from .driver import Reporter, drive, frontier_report, print_to_stderr
from .options import (
    add_archive_options,
    add_crawl_options,
    add_fetch_options,
    add_format_option,
    add_frontier_arguments,
    add_output_dir_argument,
    add_seed_arguments,
    all_seeds,
    check_output_paths,
    crawl_config_from_args,
    load_handler,
    refuse_one_file_twice,
    warc_writer_from_args,
)

if TYPE_CHECKING:
    from .._crawl.crawler import Crawler

__all__ = ["add_arguments", "run_crawl", "with_recrawl"]

LABEL = "corocrawl crawl"


def add_arguments(crawl: argparse.ArgumentParser) -> None:
    add_seed_arguments(crawl)
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
        "--handler",
        metavar="MODULE:FUNCTION",
        help="a page handler, as package.module:function: an async generator given each "
        "HTML page, yielding items (dicts, to --items) and URLs to follow",
    )
    crawl.add_argument(
        "--extract",
        action="append",
        default=[],
        choices=EXTRACTS,
        help="an item of each HTML page to --items: 'text', its main text, title, author, "
        "date, language, description and site name (pip install 'corocrawl[extract]'); "
        "'meta', its "
        "JSON-LD, OpenGraph and <meta> tags (repeatable: both in one item)",
    )
    crawl.add_argument(
        "--items",
        type=Path,
        metavar="FILE",
        help="output for the items of --extract and --handler (JSON Lines, or by --format)",
    )
    add_format_option(crawl)
    add_crawl_options(crawl)
    shared = crawl.add_argument_group(
        "shared crawl (many workers, many machines: see docs/scaling.md)"
    )
    add_frontier_arguments(shared, required=False)
    add_output_dir_argument(shared)
    add_fetch_options(crawl, concurrency=DEFAULT_CRAWL_CONCURRENCY, per_host=DEFAULT_CRAWL_PER_HOST)
    add_archive_options(crawl)


def run_crawl(args: argparse.Namespace) -> int:
    if args.warc is not None and (args.frontier is not None or args.crawl_id is not None):
        raise ConfigError("--warc is not written by a shared crawl yet: leave out --frontier")
    if args.frontier is not None or args.crawl_id is not None:
        from .shared import run_shared_crawl

        return run_shared_crawl(args)
    config = crawl_config_from_args(args)
    checked_seeds(args.seeds)
    check_output_paths(args)
    refuse_one_file_twice({
        "--input": args.input, "--output": args.output, "--items": args.items,
        "--state": args.state, "--stats-json": args.stats_json, "--warc": args.warc,
        "--cdx": args.cdx,
        **{f"--replay {path}": path for path in args.replay},
    })  # fmt: skip
    if args.items is not None and args.handler is None and not args.extract:
        raise ConfigError("--items receives what --extract or a --handler gives: give one")
    if args.extract and args.items is None:
        raise ConfigError("--extract writes its items to --items FILE: give it")
    handler = load_handler(args.handler) if args.handler is not None else None
    if handler is not None and args.items is None:
        print_to_stderr(f"{LABEL}: warning: the items the handler yields are dropped: give --items")
    if args.recrawl and args.state is None:
        raise ConfigError(
            "--recrawl revisits the pages of a crawl kept in --state FILE (or a shared crawl's)"
        )
    if args.recrawl and not args.state.exists():
        raise ConfigError(f"--state {str(args.state)!r} does not exist: nothing to recrawl")
    if not args.seeds and args.input is None and (args.state is None or not args.state.exists()):
        raise ConfigError("give at least one seed URL, or -i FILE")
    return run(_crawl(args, config, handler))


async def _crawl(args: argparse.Namespace, config: CrawlConfig, handler: object) -> int:
    # The crawl's machinery is loaded only to run, so that --help stays quick.
    from .._crawl.crawler import Crawler
    from ..frontier import Frontier, MemoryFrontier, SqliteFrontier

    reporter = Reporter(LABEL)
    seeds = await all_seeds(args, reporter.say)
    frontier: Frontier
    warc = warc_writer_from_args(args)
    if args.state is not None:
        frontier = await SqliteFrontier.open(args.state)
        resumed = frontier.resumed
    else:
        frontier, resumed = MemoryFrontier(), False
    try:
        if resumed:
            counts = frontier.counts()
            doing = "recrawling" if args.recrawl else "resuming"
            print_to_stderr(
                f"{LABEL}: {doing} {args.state}: {counts.done:,} done, {counts.failed:,} "
                f"failed, {counts.skipped:,} skipped, {counts.pending + counts.leased:,} left"
            )
        output = open_sink(
            args.output, append=resumed, format=args.format, part_rows=args.part_rows
        )
        items = None
        if args.items:
            items = open_sink(
                args.items, append=resumed, format=args.format, columns=None,
                part_rows=args.part_rows,
            )  # fmt: skip
        crawler = Crawler(
            config,
            frontier=frontier,
            output=output,
            items=items,
            handler=handler,  # type: ignore[arg-type]  # load_handler checked it is callable
            workers=args.workers,
            warc=warc,
            recrawl=args.recrawl,
        )
        crawl_report = frontier_report(frontier, shared=False)
        return await drive(
            crawler,
            crawler.run(seeds),
            reporter=reporter,
            sinks=[output, items],
            quiet=args.quiet,
            stats_json=args.stats_json,
            stats_every=args.stats_every,
            frontier=frontier,
            metrics=args.metrics_port,
            extra_report=with_recrawl(crawl_report, crawler) if args.recrawl else crawl_report,
        )
    finally:
        if warc is not None:
            await asyncio.to_thread(warc.close)  # sorting --cdx takes a while
        await frontier.close()


def with_recrawl(
    report: Callable[[], tuple[dict[str, Any], str]], crawler: Crawler
) -> Callable[[], tuple[dict[str, Any], str]]:
    """A crawl's report, and what its recrawl found."""

    def reported() -> tuple[dict[str, Any], str]:
        document, line = report()
        return {
            **document,
            "recrawl": crawler.recrawl.as_dict(),
        }, line + "\n" + crawler.recrawl.line()

    return reported
