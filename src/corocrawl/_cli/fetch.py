"""`corocrawl fetch`: a list of URLs in, one JSON record per URL out."""

from __future__ import annotations

import argparse
import asyncio
import os
import stat

from .._input import BadLine, count_url_lines, open_url_source, read_requests
from .._loop import run
from .._models import FetchResult
from .._sinks import JsonlSink
from .driver import Reporter, drive
from .options import add_fetch_options, fetch_config_from_args
from .progress import ProgressBar

__all__ = ["add_arguments", "run_fetch"]

LABEL = "corocrawl fetch"


def add_arguments(fetch: argparse.ArgumentParser) -> None:
    fetch.add_argument("input", metavar="INPUT", help="file of URLs, one per line, or '-'")
    fetch.add_argument(
        "-o", "--output", default="-", help="JSON Lines output file (default: stdout)"
    )
    add_fetch_options(fetch)


def run_fetch(args: argparse.Namespace) -> int:
    from .._api import fetch_executor  # the engine, loaded only to run (--help stays quick)

    config = fetch_config_from_args(args)
    stream, source = open_url_source(args.input)
    sink = JsonlSink(args.output)
    executor = fetch_executor(config, args.workers)
    reporter = Reporter(LABEL)

    def on_bad_line(bad: BadLine) -> None:
        executor.stats.skipped_input += 1
        reporter.say(f"skipped {bad}")

    async def emit(result: FetchResult) -> None:
        sink.write(result.to_record())

    async def main() -> int:
        requests = read_requests(stream, source, on_bad_line)
        return await drive(
            executor,
            executor.run(requests, emit),
            reporter=reporter,
            sinks=[sink],
            quiet=args.quiet,
            stats_json=args.stats_json,
            on_progress=lambda bar: _count_total_in_background(args.input, bar),
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
