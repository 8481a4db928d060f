"""The throughput and scale suites: which contenders run, in which order, how often."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._contenders import REQUIRES
from ._measure import Measurement, Spread, measure

__all__ = ["Row", "available", "run_throughput"]

BASELINE = "aiohttp"
Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Row:
    """The runs of one contender at one size, summarised."""

    contender: str
    requests: int
    concurrency: int
    runs: tuple[Measurement, ...]

    @property
    def rate(self) -> Spread:
        return Spread.of([run.rate for run in self.runs])

    @property
    def wall(self) -> Spread:
        return Spread.of([run.wall for run in self.runs])

    @property
    def cpu_per_request_us(self) -> Spread:
        return Spread.of([run.cpu_per_request_us for run in self.runs])

    @property
    def worker_cpu_per_request_us(self) -> Spread:
        return Spread.of([run.worker_cpu / run.requests * 1e6 for run in self.runs])

    @property
    def server_cpu_per_request_us(self) -> Spread | None:
        values = [run.server_cpu_per_request_us for run in self.runs]
        known = [value for value in values if value is not None]
        return Spread.of(known) if known else None

    @property
    def peak_rss_mb(self) -> Spread:
        return Spread.of([run.peak_rss_mb for run in self.runs])

    @property
    def failed(self) -> int:
        return max(run.failed for run in self.runs)

    @property
    def ok(self) -> int:
        return min(run.ok for run in self.runs)

    def to_dict(self) -> dict[str, object]:
        return {
            "contender": self.contender,
            "requests": self.requests,
            "concurrency": self.concurrency,
            "wall_s": _spread(self.wall),
            "requests_per_s": _spread(self.rate),
            "client_cpu_us_per_request": _spread(self.cpu_per_request_us),
            "of_which_worker_processes_us_per_request": _spread(self.worker_cpu_per_request_us),
            "server_cpu_us_per_request": None
            if self.server_cpu_per_request_us is None
            else _spread(self.server_cpu_per_request_us),
            "peak_rss_mb": _spread(self.peak_rss_mb),
            "ok_min": self.ok,
            "failed_max": self.failed,
        }


def run_throughput(
    url: str,
    contenders: Sequence[str],
    *,
    requests: int,
    concurrency: int,
    repeat: int,
    say: Say,
    server_cpu: Callable[[], float | None] = lambda: None,
    ca_file: str | None = None,
) -> list[Row]:
    """Every contender `repeat` times, alternating (and reversing the order each round) so
    that drift on a shared machine falls on all of them alike."""
    contenders = available(contenders, say)
    runs: dict[str, list[Measurement]] = {name: [] for name in contenders}
    for round_number in range(repeat):
        order = contenders if round_number % 2 == 0 else list(reversed(contenders))
        for name in order:
            run = measure(
                name, url, requests, concurrency, timeout=600, server_cpu=server_cpu,
                ca_file=ca_file,
            )  # fmt: skip
            workers = f" (workers {run.worker_cpu:,.1f}s)" if run.worker_cpu else ""
            server = "" if run.server_cpu is None else f", server {run.server_cpu:,.1f}s CPU"
            say(
                f"round {round_number + 1}/{repeat}: {name}: {run.rate:,.0f} requests/s, "
                f"{run.cpu_per_request_us:,.0f} us CPU/request, {run.peak_rss_mb:,.0f} MB; "
                f"wall {run.wall:,.1f}s, client {run.cpu:,.1f}s CPU{workers}{server}"
            )
            runs[name].append(run)
    return [Row(name, requests, concurrency, tuple(runs[name])) for name in contenders]


def available(contenders: Sequence[str], say: Say) -> list[str]:
    """The contenders whose library is installed; each missing one is reported, not dropped
    silently."""
    kept = []
    for name in contenders:
        module = REQUIRES.get(name)
        if module is not None and importlib.util.find_spec(module) is None:
            say(f"{name}: unavailable, needs {module}: pip install 'corocrawl[bench]'")
            continue
        kept.append(name)
    return kept


def _spread(spread: Spread) -> dict[str, float]:
    return {"min": round(spread.low, 4), "median": round(spread.median, 4),
            "max": round(spread.high, 4)}  # fmt: skip
