"""Showing a run: a live bar on a terminal, periodic lines elsewhere, and the final summary."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._stats import Stats, StatsSnapshot
from ..frontier import FrontierCounts

__all__ = ["ProgressBar", "format_summary", "show_progress"]

ProgressBar = Progress

_LOG_EVERY = 10.0
_REFRESH_EVERY = 0.25


@contextlib.asynccontextmanager
async def show_progress(
    stats: Stats,
    stream: TextIO,
    *,
    label: str,
    total: int | None = None,
    quiet: bool = False,
    frontier: Callable[[], FrontierCounts] | None = None,
) -> AsyncIterator[Progress | None]:
    """Report progress while the body runs: a bar if `stream` is a terminal, else log lines;
    with a crawl's `frontier`, how many of its requests are left."""
    if quiet:
        yield None
        return
    console = Console(file=stream)
    if not console.is_terminal:
        task = asyncio.create_task(_log_lines(stats, stream, label, frontier))
        try:
            yield None
        finally:
            task.cancel()
        return
    bar = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.1f}/s"),
        TextColumn("[red]{task.fields[errors]:,} errors"),
        TextColumn("{task.fields[in_flight]} in flight"),
        TextColumn("{task.fields[left]}"),
        TimeElapsedColumn(),
        console=console,
        auto_refresh=False,
        transient=False,
    )
    bar_task = bar.add_task(label, total=total, rate=0.0, errors=0, in_flight=0, left="")
    with bar:
        refresher = asyncio.create_task(_refresh_bar(stats, bar, bar_task, frontier))
        try:
            yield bar
        finally:
            refresher.cancel()
            _update_bar(stats.snapshot(), bar, bar_task, frontier)


async def _refresh_bar(
    stats: Stats, bar: Progress, bar_task: object, frontier: Callable[[], FrontierCounts] | None
) -> None:
    while True:
        await asyncio.sleep(_REFRESH_EVERY)
        _update_bar(stats.snapshot(), bar, bar_task, frontier)


def _update_bar(
    snap: StatsSnapshot,
    bar: Progress,
    bar_task: object,
    frontier: Callable[[], FrontierCounts] | None,
) -> None:
    bar.update(
        bar_task,  # type: ignore[arg-type]
        # The total counts every input line that is no comment: bad lines too.
        completed=snap.recorded + snap.skipped_input,
        rate=snap.rate,
        errors=snap.failed + snap.http_errors,
        in_flight=snap.in_flight,
        left=_left(frontier),
    )
    bar.refresh()


def _left(frontier: Callable[[], FrontierCounts] | None) -> str:
    """A crawl's frontier: the requests left (pending or claimed)."""
    if frontier is None:
        return ""
    counts = frontier()
    return f"frontier {counts.pending + counts.leased:,} left"


async def _log_lines(
    stats: Stats, stream: TextIO, label: str, frontier: Callable[[], FrontierCounts] | None
) -> None:
    while True:
        await asyncio.sleep(_LOG_EVERY)
        snap = stats.snapshot()
        left = _left(frontier)
        print(
            f"{label}: {_count(snap.recorded, 'URL')} recorded: {snap.fetched:,} fetched "
            f"({snap.rate:,.1f}/s), {snap.skipped:,} skipped, {snap.failed:,} failed, "
            f"{snap.http_errors:,} HTTP errors, {snap.in_flight:,} in flight, "
            f"{snap.elapsed:,.0f}s" + (f", {left}" if left else ""),
            file=stream,
            flush=True,
        )


def format_summary(label: str, snap: StatsSnapshot, *, latency_sum: float) -> str:
    """The closing report of a run, for a human."""
    skipped = f", {snap.skipped:,} skipped" if snap.skipped else ""
    lines = [
        f"{label}: {_count(snap.recorded, 'URL')} in {snap.elapsed:.2f}s: "
        f"{snap.fetched:,} fetched ({snap.rate:,.1f}/s){skipped}",
        f"  ok {snap.ok:,}, HTTP errors {snap.http_errors:,}, failed {snap.failed:,}, "
        f"retries {snap.retries:,}, {_human_bytes(snap.bytes)} received",
    ]
    if snap.by_status:
        counts = ", ".join(f"{code} x{n:,}" for code, n in sorted(snap.by_status.items()))
        lines.append(f"  status: {counts}")
    if snap.by_error:
        counts = ", ".join(f"{name} x{n:,}" for name, n in sorted(snap.by_error.items()))
        lines.append(f"  errors: {counts}")
    if snap.by_skip:
        counts = ", ".join(f"{reason} x{n:,}" for reason, n in sorted(snap.by_skip.items()))
        lines.append(f"  skipped: {counts}")
    if snap.by_proxy:
        counts = ", ".join(
            f"{proxy} {fetched:,}" + (f" ({failed:,} attempts failed)" if failed else "")
            for proxy, (fetched, failed) in sorted(snap.by_proxy.items())
        )
        lines.append(f"  by proxy: {counts}")
    if snap.p50 is not None:
        lines.append(
            f"  latency: p50 {_seconds(snap.p50)}, p95 {_seconds(snap.p95)}, "
            f"p99 {_seconds(snap.p99)}"
        )
    if snap.skipped_input:
        lines.append(f"  input lines skipped: {snap.skipped_input:,} (reported above)")
    if snap.handler_errors:
        lines.append(
            f"  handler errors: {_count(snap.handler_errors, 'page')} (each record says "
            f"which, in handler_error; the first: {snap.first_handler_error})"
        )
    if snap.worker_restarts:
        lines.append(
            f"  worker processes replaced after dying: {snap.worker_restarts:,} "
            "(their requests were handed to the replacements)"
        )
    if snap.elapsed > 0 and latency_sum / snap.elapsed >= 1.5:
        lines.append(
            f"  one at a time, these fetches would have taken about {latency_sum:,.1f}s "
            f"(the sum of their times): {latency_sum / snap.elapsed:,.1f}x faster concurrently"
        )
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f}ms" if value < 1 else f"{value:.2f}s"


def _human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
