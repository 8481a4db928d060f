"""The tutorial's experiment: every strategy of its table, against the bundled slow server."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

__all__ = ["SEED_ROWS", "SeedOutcome", "SeedRow", "run_seed", "speedups"]

INSTALL_HINT = "pip install 'corocrawl[bench]'"


@dataclass(frozen=True, slots=True)
class SeedRow:
    """One strategy of the tutorial's table, with the figure the tutorial measured for it."""

    strategy: str
    label: str
    trap: bool  # the blocking-in-async rows, which the tutorial ran with 5 requests
    seed_requests: int | None
    seed_figure: str | None

    def estimate(self, delay: float, requests: int) -> float:
        """Seconds this strategy should take against a server that sleeps `delay` seconds."""
        if self.strategy == "asyncio-await-blocking":
            return delay  # fails on its first await
        if self.strategy in ("sequential", "asyncio-blocking", "asyncio-wrapped-blocking"):
            return requests * delay
        if self.strategy.startswith("pool-"):
            processes = _CPUS if self.strategy == "pool-cpus" else 8
            return math.ceil(requests / processes) * delay
        return delay


_CPUS = os.cpu_count() or 1
SEED_ROWS = (
    SeedRow("sequential", "sequential requests.get loop", False, 100, "305 s"),
    SeedRow("asyncio-blocking", "asyncio tasks + blocking requests.get", True, 5, "15 s"),
    SeedRow("asyncio-await-blocking", "... with await on requests.get", True, 5, "TypeError"),
    SeedRow("asyncio-wrapped-blocking", "... wrapped in another async def", True, 5, "15 s"),
    SeedRow("pool-cpus", f"multiprocessing.Pool({_CPUS}) + requests", False, None, None),
    SeedRow("pool-8", "multiprocessing.Pool(8) + requests", False, 100, "48 s"),
    SeedRow("asyncio-aiohttp", "asyncio + aiohttp, one session", False, 100, "3.1 s"),
    SeedRow("aiomultiprocess", "aiomultiprocess.Pool + aiohttp", False, 100, "3.1 s"),
    SeedRow(
        "aiomultiprocess-tuned", "... childconcurrency sized to the batch", False, 100, "3.1 s"
    ),
    SeedRow("corocrawl", "corocrawl fetch (one process)", False, None, None),
    SeedRow("corocrawl-workers", f"corocrawl fetch --workers {_CPUS}", False, 100, "3.1 s"),
)


@dataclass(frozen=True, slots=True)
class SeedOutcome:
    """What happened to one row: `status` is ok, error, skipped or unavailable."""

    row: SeedRow
    requests: int
    status: str
    wall: float | None = None
    estimate: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "strategy": self.row.strategy,
            "label": self.row.label,
            "requests": self.requests,
            "status": self.status,
            "wall_s": None if self.wall is None else round(self.wall, 3),
            "requests_per_s": None if not self.wall else round(self.requests / self.wall, 2),
            "estimate_s": self.estimate,
            "note": self.note,
            "seed_requests": self.row.seed_requests,
            "seed_figure": self.row.seed_figure,
        }


def run_seed(
    url: str,
    rows: Sequence[SeedRow],
    *,
    delay: float,
    requests: int,
    trap_requests: int,
    budget: float,
    say: Callable[[str], None],
) -> list[SeedOutcome]:
    """Run each row in its own process, unless its estimate is over `budget` seconds."""
    outcomes = []
    for row in rows:
        count = trap_requests if row.trap else requests
        estimate = row.estimate(delay, count)
        if estimate > budget:
            note = f"about {estimate:,.0f}s, over the {budget:g}s budget"
            outcome = SeedOutcome(row, count, "skipped", estimate=estimate, note=note)
        else:
            say(f"{row.label}: {count} requests (about {estimate:,.1f}s)...")
            outcome = _run_row(row, url, count, estimate, timeout=max(60.0, 3 * estimate))
        say(f"{row.label}: {_describe(outcome)}")
        outcomes.append(outcome)
    return outcomes


def speedups(outcomes: Sequence[SeedOutcome], delay: float) -> dict[str, float]:
    """Each row's speed-up over one-at-a-time fetching of the same number of requests: the
    sequential row's measured time per request where it ran, `delay` per request otherwise."""
    per_request = delay
    for outcome in outcomes:
        if outcome.row.strategy == "sequential" and outcome.wall:
            per_request = outcome.wall / outcome.requests
    return {
        outcome.row.strategy: per_request * outcome.requests / outcome.wall
        for outcome in outcomes
        if outcome.wall
    }


def _run_row(row: SeedRow, url: str, count: int, estimate: float, *, timeout: float) -> SeedOutcome:
    command = [sys.executable, "-m", "corocrawl._bench._strategies", row.strategy, url, str(count)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return SeedOutcome(row, count, "error", estimate=estimate,
                           note=f"did not finish within {timeout:g}s")  # fmt: skip
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines:
        last_lines = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
        return SeedOutcome(row, count, "error", estimate=estimate, note=" ".join(last_lines))
    report = orjson.loads(lines[-1])
    if "unavailable" in report:
        note = f"needs {report['unavailable']}: {INSTALL_HINT}"
        return SeedOutcome(row, count, "unavailable", estimate=estimate, note=note)
    if "error" in report:
        return SeedOutcome(row, count, "error", estimate=estimate, note=report["error"])
    return SeedOutcome(row, count, "ok", wall=report["wall"], estimate=estimate)


def _describe(outcome: SeedOutcome) -> str:
    if outcome.wall is not None:
        return f"{outcome.wall:,.2f}s"
    return f"{outcome.status}: {outcome.note}"
