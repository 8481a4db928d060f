"""One run of a long-running command, from start to exit code, for every command that fetches.

`drive` runs the work as a task, turns Ctrl-C and SIGTERM into a drain (first) and an abandon
(second), shows progress, closes the outputs whatever happened, writes the statistics JSON,
prints the summary, and returns the exit code: 0 when the run completed (failed URLs are
records too), 130 when it was interrupted. An output that failed is raised after the rest is
closed and reported, so the summary still says what was done.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from .._exceptions import SinkError, WorkerError, first_of
from .._sinks import Sink
from .._stats import Stats
from .._workers.interrupts import Interrupts
from .._workers.spawn import EXIT_INTERRUPTED, STOP_SIGNALS
from ..frontier import FrontierCounts
from .progress import ProgressBar, format_summary, show_progress

__all__ = [
    "EXIT_INTERRUPTED",
    "Interrupts",
    "Reporter",
    "Stoppable",
    "drive",
    "frontier_report",
    "print_to_stderr",
]


_STALL_CHECK_EVERY = 5.0
_STALL_SAID_AFTER = 30.0


class Stoppable(Protocol):
    """What a run drives: an Engine, a WorkerPool or a Crawler."""

    @property
    def stats(self) -> Stats: ...

    def stop(self) -> None: ...


class HasCounts(Protocol):
    def counts(self) -> FrontierCounts: ...


@runtime_checkable
class HasHostQueues(Protocol):
    def queued_by_host(self, top: int) -> list[tuple[str, int]]: ...


@contextlib.contextmanager
def _metrics(
    address: str | None,
    stats: Stats,
    counts: Callable[[], FrontierCounts] | None,
    hosts: Callable[[int], list[tuple[str, int]]] | None,
    reporter: Reporter,
    quiet: bool,
) -> Iterator[None]:
    if address is None:
        yield
        return
    from .metrics import serve_metrics

    with serve_metrics(address, stats, frontier=counts, hosts=hosts) as port:
        if not quiet:
            host = address.rpartition(":")[0]
            reporter.say(f"metrics at http://{host}:{port}/metrics")
        yield


class Reporter:
    """Messages on stderr during a run, printed above the progress bar while it is shown."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._print: Callable[[str], None] = print_to_stderr
        self._raw: Callable[[str], None] = print_to_stderr

    def say(self, text: str) -> None:
        self._print(f"{self.label}: {text}")

    def line(self, text: str) -> None:
        """A line as it is (a JSON stats line): no label, no markup."""
        self._raw(text)

    def through(self, bar: ProgressBar | None) -> None:
        self._print = print_to_stderr if bar is None else bar.console.print
        self._raw = (
            print_to_stderr
            if bar is None
            else functools.partial(bar.console.print, markup=False, highlight=False, soft_wrap=True)
        )


async def drive(
    runner: Stoppable,
    work: Coroutine[Any, Any, None],
    *,
    reporter: Reporter,
    sinks: Sequence[Sink | None],
    quiet: bool,
    stats_json: Path | None,
    signals: Sequence[signal.Signals] = STOP_SIGNALS,
    on_progress: Callable[[ProgressBar], None] | None = None,
    extra_report: Callable[[], tuple[dict[str, Any], str]] | None = None,
    stats_every: float | None = None,
    frontier: HasCounts | None = None,
    metrics: str | None = None,
) -> int:
    """Run `work` (which runs `runner`) to its end or an interrupt, then report.

    `on_progress` is given the progress bar once it is shown; `extra_report` adds a part to
    the statistics JSON and a line to the summary (a crawl's frontier counts). A crawl's
    `frontier` size is shown with the progress, and in the metrics served on `metrics`
    (HOST:PORT) while the run lasts."""
    run_task = asyncio.create_task(work)
    stats = runner.stats
    interrupts = Interrupts(
        stop=runner.stop,
        in_flight=lambda: stats.in_flight,
        run_task=run_task,
        say=reporter.say,
        signals=signals,
    )
    failure: SinkError | None = None
    stall_watch = None if quiet else asyncio.create_task(_say_when_stalled(stats, reporter))
    stats_lines = None
    if stats_every is not None:
        stats_lines = asyncio.create_task(_stats_lines(stats, reporter, stats_every, extra_report))
    counts = None if frontier is None else frontier.counts
    hosts = runner.queued_by_host if isinstance(runner, HasHostQueues) else None
    try:
        with interrupts, _metrics(metrics, stats, counts, hosts, reporter, quiet):
            async with show_progress(
                stats, sys.stderr, label=reporter.label, quiet=quiet, frontier=counts
            ) as bar:
                reporter.through(bar)
                if bar is not None and on_progress is not None:
                    on_progress(bar)
                failure = await await_run(run_task, interrupts)
    finally:
        for watch in (stall_watch, stats_lines):
            if watch is not None:
                watch.cancel()
        reporter.through(None)
        closing_failure = close_sinks(*sinks)
        failure = failure or closing_failure
    snapshot = stats.snapshot()
    extra, extra_line = extra_report() if extra_report is not None else ({}, "")
    if stats_json is not None:
        document = {**snapshot.to_dict(), **extra}
        _write_bytes(stats_json, orjson.dumps(document, option=orjson.OPT_INDENT_2))
    if not quiet:
        summary = format_summary(reporter.label, snapshot, latency_sum=stats.latency_sum)
        print(summary + (f"\n{extra_line}" if extra_line else ""), file=sys.stderr)
    if failure is not None:
        raise failure
    return EXIT_INTERRUPTED if interrupts.count else 0


async def _say_when_stalled(stats: Stats, reporter: Reporter) -> None:
    """When nothing is recorded for a while, say so and what it may be waiting for."""
    last, since, said = stats.recorded, time.monotonic(), 0.0
    while True:
        await asyncio.sleep(_STALL_CHECK_EVERY)
        now = time.monotonic()
        if stats.recorded != last:
            last, since, said = stats.recorded, now, 0.0
        elif now - since >= _STALL_SAID_AFTER and now - said >= _STALL_SAID_AFTER:
            said = now
            reporter.say(
                f"nothing recorded for {now - since:.0f}s: {stats.in_flight} fetches running; "
                "the rest wait for their host's turn (--delay, a Retry-After pause) or for "
                "its robots.txt (-v says which)"
            )


async def _stats_lines(
    stats: Stats,
    reporter: Reporter,
    every: float,
    extra_report: Callable[[], tuple[dict[str, Any], str]] | None,
) -> None:
    """One JSON line of statistics on stderr every `every` seconds, for a log shipper: the
    --stats-json document so far, with the time."""
    while True:
        await asyncio.sleep(every)
        extra = extra_report()[0] if extra_report is not None else {}
        document = {"time": round(time.time(), 3), **stats.snapshot().to_dict(), **extra}
        reporter.line(orjson.dumps(document).decode())


async def await_run(run_task: asyncio.Task[None], interrupts: Interrupts) -> SinkError | None:
    """Wait for the run. A second Ctrl-C ends it quietly; an output that failed is returned
    (the caller still closes what it can); anything else is raised."""
    try:
        await run_task
    except asyncio.CancelledError:
        if not interrupts.abandoned:
            raise
    except ExceptionGroup as group:
        return first_sink_error(group)
    return None


def close_sinks(*sinks: Sink | None) -> SinkError | None:
    """Close every sink, even after one fails; return the first failure."""
    failure = None
    for sink in sinks:
        if sink is not None:
            try:
                sink.close()
            except SinkError as exc:
                failure = failure or exc
    return failure


def first_sink_error(group: ExceptionGroup[Exception]) -> SinkError:
    """A failed output ends the run loudly; a failed worker is raised as itself; anything else
    in the group is a bug: re-raise it."""
    sink_error = first_of(group, SinkError)
    if sink_error is not None:
        return sink_error
    worker_error = first_of(group, WorkerError)
    if worker_error is not None:
        raise worker_error from None
    raise group


def print_to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def frontier_report(
    frontier: HasCounts, *, shared: bool
) -> Callable[[], tuple[dict[str, Any], str]]:
    """A crawl's part of the report: where its frontier stands. `shared`: the counts are a
    whole shared crawl's, of which this process did a part."""

    def report() -> tuple[dict[str, Any], str]:
        counts = frontier.counts()
        document = {
            "frontier": {
                "pending": counts.pending,
                "leased": counts.leased,
                "done": counts.done,
                "failed": counts.failed,
                "skipped": counts.skipped,
            }
        }
        line = (
            f"  {'whole crawl' if shared else 'frontier'}: {counts.done:,} done, "
            f"{counts.failed:,} failed, {counts.skipped:,} skipped, "
            f"{counts.pending + counts.leased:,} left"
        )
        return document, line

    return report


def _write_bytes(path: Path, data: bytes) -> None:
    """Written once, at the end of a run, when nothing else waits on the loop."""
    path.write_bytes(data)
