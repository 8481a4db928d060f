"""`corocrawl sitemap`: the URLs a site lists in its sitemaps, as JSON Lines, without crawling."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from .._config import Sitemaps
from .._exceptions import ConfigError
from .._loop import run
from .._sinks import JsonlSink
from .options import (
    add_fetch_options,
    check_output_paths,
    date_option,
    fetch_config_from_args,
    positive_int,
    refuse_one_file_twice,
)

if TYPE_CHECKING:
    from .._crawl.sitemap_walk import SitemapRead
    from .._crawl.sitemaps import SitemapEntry

__all__ = ["add_arguments", "run_sitemap"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url",
        metavar="URL",
        help="a site (https://example.org/: its robots.txt's sitemaps, else /sitemap.xml) or "
        "a sitemap's URL",
    )
    parser.add_argument(
        "-o", "--output", default="-", help="JSON Lines output file (default: stdout)"
    )
    parser.add_argument(
        "--since",
        type=date_option,
        metavar="DATE",
        help="leave out URLs whose <lastmod> is before DATE (2026-11-01; those without one "
        "are kept)",
    )
    parser.add_argument(
        "--nesting",
        type=positive_int,
        default=Sitemaps().nesting,
        metavar="N",
        help=f"sitemap indexes followed N levels deep at most (default: {Sitemaps().nesting})",
    )
    add_fetch_options(parser)


def run_sitemap(args: argparse.Namespace) -> int:
    if args.workers != 1:
        raise ConfigError("--workers: sitemap reads with one process")
    from .._crawl.sitemap_walk import walk_sitemaps  # the engine, loaded only to run

    check_output_paths(args)
    refuse_one_file_twice({"--output": args.output, "--stats-json": args.stats_json})

    config = fetch_config_from_args(args)
    sink = JsonlSink(args.output)
    read: list[SitemapRead] = []
    urls = 0

    def on_url(entry: SitemapEntry, sitemap: str) -> None:
        nonlocal urls
        urls += 1
        sink.write({"url": entry.url, "lastmod": entry.lastmod, "sitemap": sitemap})

    def on_sitemap(one: SitemapRead) -> None:
        read.append(one)
        if not args.quiet:
            print(f"corocrawl sitemap: {_describe(one)}", file=sys.stderr)

    async def walk() -> None:
        try:
            await walk_sitemaps(args.url, config, on_url=on_url, on_sitemap=on_sitemap,
                                since=args.since, nesting=args.nesting)  # fmt: skip
        finally:
            sink.close()

    try:
        run(walk())
    except ValueError as exc:
        raise ConfigError(f"URL {args.url!r}: {exc}") from None
    usable = sum(one.content is not None for one in read)
    if not args.quiet:
        print(f"corocrawl sitemap: {urls:,} URLs from {usable:,} of {len(read):,} sitemaps",
              file=sys.stderr)  # fmt: skip
    if args.stats_json is not None:
        summary = {"urls": urls, "sitemaps": len(read), "sitemaps_read": usable}
        args.stats_json.write_text(json.dumps(summary) + "\n")
    return 0 if usable else 1


def _describe(one: SitemapRead) -> str:
    result, content = one.result, one.content
    if content is None:
        why = f"{result.error.type}: {result.error.message}" if result.error else "no body"
        return f"{one.url}: status {result.status}, not read ({why})"
    parts = [f"{len(content.pages):,} URLs"]
    if content.sitemaps:
        parts.append(f"{len(content.sitemaps):,} sitemaps")
    for count, what in ((content.older, "older than --since"), (content.over_cap, "past the cap"),
                        (content.invalid, "not http(s) URLs"), (one.too_deep, "too deep"),
                        (one.not_read, "sitemaps past the walk's cap")):  # fmt: skip
        if count:
            parts.append(f"{count:,} {what}")
    line = f"{one.url}: {content.kind}, " + ", ".join(parts)
    return line if content.error is None else f"{line}; {content.error}"
