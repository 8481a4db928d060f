"""Benchmark results as a terminal table and as JSON."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from ._suites import BASELINE, Row

__all__ = ["print_table"]


def print_table(title: str, rows: Sequence[Row], console: Console) -> None:
    """One line per contender and size; ratios are to the raw aiohttp loop of the same size."""
    baselines = {row.requests: row for row in rows if row.contender == BASELINE}
    table = Table(title=title)
    for heading in ("contender", "requests", "concurrency", "wall s (min/med/max)",
                    "requests/s (median)", "vs aiohttp", "CPU us/request", "peak RSS MB",
                    "failed"):  # fmt: skip
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
            f"{row.peak_rss_mb.median:,.0f}",
            f"{row.failed:,}",
        )
    console.print(table)
