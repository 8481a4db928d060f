"""Benchmark results as a terminal table and as JSON."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from .._exceptions import ConfigError
from ._seed import SeedOutcome, SeedRow
from ._suites import BASELINE, Row

__all__ = ["TUTORIAL_DELAY", "plot_seed", "print_seed_table", "print_table"]

TUTORIAL_DELAY = 3.0  # seconds the tutorial's server slept per request


def print_table(
    title: str, rows: Sequence[Row], console: Console, *, baseline: str = BASELINE
) -> None:
    """One line per contender and size; ratios are to the baseline (the raw aiohttp loop) of
    the same size."""
    baselines = {row.requests: row for row in rows if row.contender == baseline}
    table = Table(title=title)
    for heading in ("contender", "requests", "concurrency", "wall s (min/med/max)",
                    "requests/s (median)", f"vs {baseline}", "CPU us/request",
                    "server CPU us/request", "peak RSS MB", "ok (min)", "failed"):  # fmt: skip
        table.add_column(heading, justify="left" if heading == "contender" else "right")
    for row in rows:
        base = baselines.get(row.requests)
        ratio = f"{row.rate.median / base.rate.median:.2f}x" if base else "-"
        wall = row.wall
        table.add_row(
            row.contender,
            f"{row.requests:,}",
            f"{row.concurrency:,}",
            f"{wall.low:.2f} / {wall.median:.2f} / {wall.high:.2f}",
            f"{row.rate.median:,.0f}",
            ratio,
            f"{row.cpu_per_request_us.median:,.0f}",
            "-"
            if row.server_cpu_per_request_us is None
            else f"{row.server_cpu_per_request_us.median:,.0f}",
            f"{row.peak_rss_mb.median:,.0f}",
            f"{row.ok:,}",
            f"{row.failed:,}",
        )
    console.print(table)


def print_seed_table(
    outcomes: Sequence[SeedOutcome], speedup: dict[str, float], *, delay: float, console: Console
) -> None:
    """The tutorial's table as measured here, its own figure beside each row."""
    title = f"the tutorial's strategies against a server that sleeps {delay:g}s"
    if delay != TUTORIAL_DELAY:
        title += f" (the tutorial's figures scaled from its {TUTORIAL_DELAY:g}s)"
    table = Table(title=title)
    for heading in ("strategy", "requests", "wall", "requests/s", "speed-up vs sequential",
                    "tutorial (its N)", "note"):  # fmt: skip
        table.add_column(heading, justify="left" if heading in ("strategy", "note") else "right")
    for outcome in outcomes:
        row = outcome.row
        ratio = speedup.get(row.strategy)
        tutorial = "-"
        if row.seed_figure:
            tutorial = f"{_scaled(row.seed_figure, delay)} ({row.seed_requests})"
        table.add_row(
            row.label,
            f"{outcome.requests:,}",
            "-" if outcome.wall is None else f"{outcome.wall:,.2f} s",
            "-" if not outcome.wall else f"{outcome.requests / outcome.wall:,.1f}",
            "-" if ratio is None else f"{ratio:,.1f}x",
            tutorial,
            outcome.note,
        )
    console.print(table)


def plot_seed(outcomes: Sequence[SeedOutcome], path: str, *, delay: float) -> None:
    """A bar chart of wall time per strategy on a log scale, coloured by how much each
    strategy lets requests overlap (the same colours on every run), with a legend (needs the
    plot extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'corocrawl[plot]'") from None
    measured = [outcome for outcome in outcomes if outcome.wall]
    labels = [f"{o.row.label}\n({o.requests} requests)" for o in measured]
    walls = [o.wall or 0.0 for o in measured]
    colours = [_OVERLAP[_overlap(o.row)][0] for o in measured]
    figure, axes = plt.subplots(figsize=(10, 0.6 * len(measured) + 1.5))
    bars = axes.barh(labels, walls, color=colours)
    axes.bar_label(bars, labels=[f"{wall:,.2f} s" for wall in walls], padding=4)
    axes.set_xscale("log")
    axes.invert_yaxis()
    axes.set_xlabel("wall time, seconds (log scale)")
    axes.set_title(f"Fetching a server that sleeps {delay:g} s per request")
    axes.set_xlim(right=max(walls) * 8)
    shown = sorted({_overlap(o.row) for o in measured})
    handles = [Patch(color=_OVERLAP[kind][0], label=_OVERLAP[kind][1]) for kind in shown]
    axes.legend(handles=handles, loc="lower right", title="requests in flight")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# How many requests a strategy has in flight, by what it is (not by a run's noisy figures).
_OVERLAP = {
    0: ("#c0392b", "one at a time"),
    1: ("#e67e22", "one per process"),
    2: ("#2e86c1", "all at once"),
}


def _overlap(row: SeedRow) -> int:
    one_by_one = row.estimate(1.0, 100)  # seconds for 100 requests of 1 s each
    return 0 if one_by_one >= 50 else 1 if one_by_one > 1 else 2


def _scaled(figure: str, delay: float) -> str:
    """A figure of the tutorial's ("305 s", measured with 3 s a request) at `delay`."""
    number, _, unit = figure.partition(" ")
    if unit != "s" or delay == TUTORIAL_DELAY:
        return figure
    try:
        seconds = float(number)
    except ValueError:
        return figure
    return f"{seconds * delay / TUTORIAL_DELAY:,.2f} s"
