"""`corocrawl fetch`: a list of URLs in, one JSON record per URL out."""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
import time
from typing import Any

from .._exceptions import ConfigError
from .._input import BadLine, ReadCursor, count_url_lines, open_url_source, read_requests
from .._loop import run
from .._models import FetchResult, SkipReason
from .._outputs import open_sink
from .driver import Reporter, drive
from .options import (
    add_archive_options,
    add_fetch_options,
    add_format_option,
    check_output_paths,
    fetch_config_from_args,
    refuse_one_file_twice,
    warc_writer_from_args,
)
from .progress import ProgressBar

__all__ = ["add_arguments", "run_fetch"]

LABEL = "corocrawl fetch"


def add_arguments(fetch: argparse.ArgumentParser) -> None:
    fetch.add_argument(
        "input", metavar="INPUT", nargs="?", help="file of URLs, one per line, or '-'"
    )
    fetch.add_argument(
        "-o", "--output", default="-", help="JSON Lines output file (default: stdout)"
    )
    add_format_option(fetch)
    add_fetch_options(fetch)
    add_archive_options(fetch)


def run_fetch(args: argparse.Namespace) -> int:
    from .._api import fetch_executor  # the engine, loaded only to run (--help stays quick)

    if args.input is None:  # optional to argparse only so that a --config file may give it
        raise ConfigError("give INPUT: a file of URLs, one per line, or '-' for stdin")
    config = fetch_config_from_args(args)
    check_output_paths(args)
    refuse_one_file_twice(
        {
            "INPUT": args.input,
            "--output": args.output,
            "--stats-json": args.stats_json,
            "--warc": args.warc,
            "--cdx": args.cdx,
            **{f"--replay {path}": path for path in args.replay},
        }
    )
    stream, source = open_url_source(args.input)
    sink = open_sink(args.output, format=args.format, part_rows=args.part_rows)
    executor = fetch_executor(config, args.workers)
    reporter = Reporter(LABEL)

    def on_bad_line(bad: BadLine) -> None:
        executor.stats.skipped_input += 1
        reporter.say(f"skipped {bad}")

    warc = warc_writer_from_args(args)
    if warc is not None:
        sink.before_flush = warc.flush  # the archive holds what a record points to

    async def emit(result: FetchResult) -> None:
        record = result.to_record()
        record["fetched_at"] = round(time.time(), 3)  # when its record was made, as a crawl's
        if warc is not None and result.exchanges:
            record["warc"] = await warc.archive(result)  # before the record that points there
        sink.write(record)

    cursor = ReadCursor()
    unfinished: list[FetchResult] = []

    async def work() -> None:
        try:
            await executor.run(read_requests(stream, source, on_bad_line, cursor), emit)
        finally:
            if warc is not None:
                await asyncio.to_thread(warc.close)  # sorting --cdx takes a while
            if executor.stopping:  # Ctrl-C: what was read and not finished gets a record too
                for request in executor.not_started():
                    skip = SkipReason.INTERRUPTED
                    unfinished.append(FetchResult(request.url, request.position, skip=skip))
                    executor.stats.record(unfinished[-1])
                    sink.write(unfinished[-1].to_record())

    def where_it_stopped() -> tuple[dict[str, Any], str]:
        if not executor.stopping:
            return {}, ""
        line = (
            f"  interrupted: {len(unfinished):,} URLs read but not finished: skipped (interrupted)"
        )
        if cursor.ended:
            return {"interrupted": len(unfinished)}, line
        first = cursor.last_line + 1
        line += f"; input lines from {first} on were not read"
        if args.input != "-":
            line += f" (go on with: tail -n +{first} {args.input} | corocrawl fetch - ...)"
        return {"interrupted": len(unfinished), "not_read_from_line": first}, line

    async def main() -> int:
        return await drive(
            executor,
            work(),
            reporter=reporter,
            sinks=[sink],
            quiet=args.quiet,
            stats_json=args.stats_json,
            stats_every=args.stats_every,
            metrics=args.metrics_port,
            on_progress=lambda bar: _count_total_in_background(args.input, bar),
            extra_report=where_it_stopped,
        )

    return run(main())


def _count_total_in_background(path: str, bar: ProgressBar) -> None:
    """Give the progress bar its total once a second pass over a regular file has counted it."""
    if path == "-" or not stat.S_ISREG(os.stat(path).st_mode):
        return
    counting = asyncio.ensure_future(asyncio.to_thread(count_url_lines, path))

    def set_total(done: asyncio.Future[int]) -> None:
        if not done.cancelled() and done.exception() is None:
            bar.update(bar.task_ids[0], total=done.result())

    counting.add_done_callback(set_total)
