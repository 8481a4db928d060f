"""Bar charts as inline SVG text: no script, no font or image to fetch.

    svg = bar_chart(bars, x_ticks=[(0.0, "0s"), (1.0, "1m")], title="pages/s", unit="pages/s")

Each bar is a (value, tooltip) pair; ticks are placed by their fraction of the x axis. Every
piece of text is escaped here, whatever its source.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["bar_chart", "duration", "nice_ceiling"]

WIDTH, HEIGHT = 760, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 16, 40


def bar_chart(
    bars: Sequence[tuple[float, str]],
    *,
    x_ticks: Sequence[tuple[float, str]],
    title: str,
    unit: str,
    css_class: str = "chart",
) -> str:
    """An SVG of `bars` side by side over the width, on a y axis from 0 to a round number
    above the highest, with four grid lines; `title` names the chart for screen readers."""
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    top = nice_ceiling(max((value for value, _ in bars), default=0.0))
    parts = [
        f'<svg class="{escape(css_class)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for step in range(5):
        value = top * step / 4
        y = _TOP + plot_h - plot_h * step / 4
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" '
                     f'y1="{y:.1f}" y2="{y:.1f}"/>')  # fmt: skip
        parts.append(f'<text class="y" x="{_LEFT - 6}" y="{y + 4:.1f}">'
                     f"{escape(_number(value))}</text>")  # fmt: skip
    parts.append(f'<text class="unit" x="{_LEFT}" y="{_TOP - 4}">{escape(unit)}</text>')
    if bars:
        slot = plot_w / len(bars)
        gap = min(slot * 0.15, 2.0)
        for index, (value, tip) in enumerate(bars):
            height = 0.0 if top == 0 else plot_h * value / top
            x = _LEFT + index * slot + gap / 2
            y = _TOP + plot_h - height
            parts.append(
                f'<rect class="bar" x="{x:.2f}" y="{y:.2f}" width="{max(slot - gap, 0.5):.2f}" '
                f'height="{height:.2f}"><title>{escape(tip)}</title></rect>'
            )
    axis_y = _TOP + plot_h
    parts.append(f'<line class="axis" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" '
                 f'y1="{axis_y}" y2="{axis_y}"/>')  # fmt: skip
    for fraction, label in x_ticks:
        x = _LEFT + plot_w * fraction
        parts.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{axis_y}" '
                     f'y2="{axis_y + 5}"/>')  # fmt: skip
        parts.append(f'<text class="x" x="{x:.1f}" y="{axis_y + 20}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def nice_ceiling(value: float) -> float:
    """The least of 1, 2, 2.5, 5 times a power of ten that is at least `value` (1 for 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return float(step * power)
    raise AssertionError("unreachable: 10 times the power is above the value")


def duration(seconds: float) -> str:
    """`seconds` for a reader: 850 us, 12 ms, 1.5 s, 2m 05s, 3h 20m."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} \u00b5s"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24:02d}h"


def _number(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"
