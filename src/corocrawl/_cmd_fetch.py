"""`corocrawl fetch`: a list of URLs in, one JSON record per URL out."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import stat
import sys
from collections.abc import Callable

import orjson

from ._cli import fetch_config_from_args
from ._engine import Engine
from ._exceptions import SinkError
from ._input import BadLine, count_url_lines, open_url_source, read_requests
from ._loop import run
from ._models import FetchResult
from ._progress import format_summary, show_progress
from ._sinks import JsonlSink

__all__ = ["run_fetch"]

EXIT_INTERRUPTED = 130


def run_fetch(args: argparse.Namespace) -> int:
    config = fetch_config_from_args(args)
    stream, source = open_url_source(args.input)
    sink = JsonlSink(args.output)
    return run(_fetch(args, Engine(config), stream, source, sink))


async def _fetch(
    args: argparse.Namespace,
    engine: Engine,
    stream: io.BufferedIOBase,
    source: str,
    sink: JsonlSink,
) -> int:
    stats = engine.stats
    label = "corocrawl fetch"
    report: Callable[[str], None] = _print_to_stderr

    def on_bad_line(bad: BadLine) -> None:
        stats.skipped_input += 1
        report(f"{label}: skipped {bad}")

    async def emit(result: FetchResult) -> None:
        sink.write(result.to_record())

    requests = read_requests(stream, source, on_bad_line)
    run_task = asyncio.create_task(engine.run(requests, emit))
    interrupts = _Interrupts(engine, run_task, lambda text: report(f"{label}: {text}"))
    failure: SinkError | None = None
    try:
        with interrupts:
            async with show_progress(stats, sys.stderr, label=label, quiet=args.quiet) as bar:
                if bar is not None:
                    report = bar.console.print
                    _count_total_in_background(args.input, bar)
                try:
                    await run_task
                except asyncio.CancelledError:
                    if not interrupts.abandoned:
                        raise
                except ExceptionGroup as group:
                    failure = _first_sink_error(group)
    finally:
        report = _print_to_stderr
        try:
            sink.close()
        except SinkError as exc:
            failure = failure or exc
    snapshot = stats.snapshot()
    if args.stats_json is not None:
        args.stats_json.write_bytes(orjson.dumps(snapshot.to_dict(), option=orjson.OPT_INDENT_2))
    if not args.quiet:
        print(format_summary(label, snapshot, latency_sum=stats.latency_sum), file=sys.stderr)
    if failure is not None:
        raise failure
    return EXIT_INTERRUPTED if interrupts.count else 0


class _Interrupts:
    """First Ctrl-C (or SIGTERM): finish what is in flight. Second Ctrl-C: abandon it."""

    def __init__(
        self, engine: Engine, run_task: asyncio.Task[None], say: Callable[[str], None]
    ) -> None:
        self._engine = engine
        self._run_task = run_task
        self._say = say
        self.count = 0
        self.abandoned = False

    def __enter__(self) -> _Interrupts:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._interrupt)
        loop.add_signal_handler(signal.SIGTERM, self._interrupt)
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)

    def _interrupt(self) -> None:
        self.count += 1
        if self.count == 1:
            in_flight = self._engine.stats.in_flight
            self._say(
                f"stopping: finishing {in_flight} requests in flight (Ctrl-C again to abandon them)"
            )
            self._engine.stop()
        elif not self.abandoned:
            self._say("abandoning the requests in flight")
            self.abandoned = True
            self._run_task.cancel()


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


def _first_sink_error(group: ExceptionGroup[Exception]) -> SinkError:
    """A failed output ends the run loudly; anything else in the group is a bug: re-raise it."""
    sink_errors = group.subgroup(SinkError)
    if sink_errors is None:
        raise group
    first: BaseException = sink_errors
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    assert isinstance(first, SinkError)
    return first


def _print_to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
