"""`corocrawl fetch`: a list of URLs in, one JSON record per URL out."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import stat
import sys
from collections.abc import Callable

import orjson

from .._exceptions import SinkError
from .._input import BadLine, count_url_lines, open_url_source, read_requests
from .._loop import run
from .._models import FetchResult
from .._sinks import JsonlSink
from .._workers.child import Executor
from .._workers.pool import fetch_executor
from .driver import EXIT_INTERRUPTED, Interrupts, await_run, close_sinks, print_to_stderr
from .main import fetch_config_from_args
from .progress import format_summary, show_progress

__all__ = ["run_fetch"]


def run_fetch(args: argparse.Namespace) -> int:
    config = fetch_config_from_args(args)
    stream, source = open_url_source(args.input)
    sink = JsonlSink(args.output)
    return run(_fetch(args, fetch_executor(config, args.workers), stream, source, sink))


async def _fetch(
    args: argparse.Namespace,
    engine: Executor[FetchResult],
    stream: io.BufferedIOBase,
    source: str,
    sink: JsonlSink,
) -> int:
    stats = engine.stats
    label = "corocrawl fetch"
    report: Callable[[str], None] = print_to_stderr

    def on_bad_line(bad: BadLine) -> None:
        stats.skipped_input += 1
        report(f"{label}: skipped {bad}")

    async def emit(result: FetchResult) -> None:
        sink.write(result.to_record())

    requests = read_requests(stream, source, on_bad_line)
    run_task = asyncio.create_task(engine.run(requests, emit))
    interrupts = Interrupts(
        stop=engine.stop,
        in_flight=lambda: engine.stats.in_flight,
        run_task=run_task,
        say=lambda text: report(f"{label}: {text}"),
    )
    failure: SinkError | None = None
    try:
        with interrupts:
            async with show_progress(stats, sys.stderr, label=label, quiet=args.quiet) as bar:
                if bar is not None:
                    report = bar.console.print
                    _count_total_in_background(args.input, bar)
                failure = await await_run(run_task, interrupts)
    finally:
        report = print_to_stderr
        closing_failure = close_sinks(sink)
        failure = failure or closing_failure
    snapshot = stats.snapshot()
    if args.stats_json is not None:
        args.stats_json.write_bytes(orjson.dumps(snapshot.to_dict(), option=orjson.OPT_INDENT_2))
    if not args.quiet:
        print(format_summary(label, snapshot, latency_sum=stats.latency_sum), file=sys.stderr)
    if failure is not None:
        raise failure
    return EXIT_INTERRUPTED if interrupts.count else 0


def _count_total_in_background(path: str, bar: object) -> None:
    """Give the progress bar its total once a second pass over a regular file has counted it."""
    if path == "-" or not stat.S_ISREG(os.stat(path).st_mode):
        return
    from rich.progress import Progress

    assert isinstance(bar, Progress)
    counting = asyncio.ensure_future(asyncio.to_thread(count_url_lines, path))

    def set_total(done: asyncio.Future[int]) -> None:
        if not done.cancelled() and done.exception() is None:
            bar.update(bar.task_ids[0], total=done.result())

    counting.add_done_callback(set_total)
