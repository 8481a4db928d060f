"""Counters of a run and a frozen snapshot of them, in memory that does not grow with the run."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._models import FetchResult

__all__ = ["LatencyHistogram", "Stats", "StatsSnapshot"]


class LatencyHistogram:
    """Log-spaced buckets 2% wide from 10 us to ~1 day: percentiles to 2%, in fixed memory."""

    _LOW = 1e-5
    _STEP = math.log(1.02)
    _SCALE = 1 / _STEP
    _LOG_LOW = math.log(_LOW)
    _SIZE = 1201

    def __init__(self) -> None:
        self._buckets = [0] * self._SIZE
        self.count = 0
        self.sum = 0.0

    def add(self, seconds: float) -> None:
        self.sum += seconds
        index = (
            0
            if seconds <= self._LOW
            else int((math.log(seconds) - self._LOG_LOW) * self._SCALE) + 1
        )
        self._buckets[min(index, self._SIZE - 1)] += 1
        self.count += 1

    def percentile(self, fraction: float) -> float | None:
        """The latency below which `fraction` of the samples fall (bucket upper bound)."""
        if not self.count:
            return None
        rank = max(1, math.ceil(fraction * self.count))
        seen = 0
        for index, count in enumerate(self._buckets):
            seen += count
            if seen >= rank:
                return self._LOW * math.exp(index * self._STEP)
        raise AssertionError("unreachable: rank is at most count")

    def counts_below(self, bounds: Sequence[float]) -> list[int]:
        """How many samples are at most each of the ascending `bounds` (to 2%: a sample counts
        below a bound when its bucket's upper end is)."""
        below = []
        seen = 0
        index = 0
        for bound in bounds:
            while index < self._SIZE and self._LOW * math.exp(index * self._STEP) <= bound:
                seen += self._buckets[index]
                index += 1
            below.append(seen)
        return below


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """Where a run stands: counts, rates and latency percentiles at one moment.

    `recorded` counts URLs with their final record, whatever it says: `fetched` ones (`ok`,
    `http_errors` and `failed`: no response) and `skipped` ones (recorded without fetching).
    `rate` is fetched URLs per second; `retries` counts the extra attempts."""

    elapsed: float
    recorded: int
    ok: int
    failed: int
    retries: int
    in_flight: int
    bytes: int
    by_status: dict[int, int]
    by_error: dict[str, int]
    p50: float | None
    p95: float | None
    p99: float | None
    skipped: int = 0
    skipped_input: int = 0
    worker_restarts: int = 0
    handler_errors: int = 0  # pages whose handler raised
    first_handler_error: str | None = None
    # (URLs recorded through it, attempts it failed: retried ones too)
    by_proxy: dict[str, tuple[int, int]] = field(default_factory=dict)
    by_skip: dict[str, int] = field(default_factory=dict)  # skipped URLs, by reason

    @property
    def fetched(self) -> int:
        """URLs fetched (a response, or an error after the attempts): not the skipped ones."""
        return self.recorded - self.skipped

    @property
    def http_errors(self) -> int:
        """URLs fetched whose response has an error status (4xx, 5xx): neither ok nor failed."""
        return self.fetched - self.ok - self.failed

    @property
    def rate(self) -> float:
        """URLs fetched per second (skips send nothing, so they do not count)."""
        return self.fetched / self.elapsed if self.elapsed > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "elapsed": round(self.elapsed, 3),
            "recorded": self.recorded,
            "fetched": self.fetched,
            "ok": self.ok,
            "http_errors": self.http_errors,
            "failed": self.failed,
            "skipped": self.skipped,
            "by_skip": dict(sorted(self.by_skip.items())),
            "retries": self.retries,
            "bytes": self.bytes,
            "requests_per_second": round(self.rate, 1),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_error": dict(sorted(self.by_error.items())),
            "latency": {"p50": self.p50, "p95": self.p95, "p99": self.p99},
            "skipped_input_lines": self.skipped_input,
            "worker_restarts": self.worker_restarts,
            "handler_errors": self.handler_errors,
            "by_proxy": {
                proxy: {"fetched": fetched, "failed": failed}
                for proxy, (fetched, failed) in sorted(self.by_proxy.items())
            },
        }


@dataclass(slots=True)
class Stats:
    """Live counters, updated by the engine; read them through `snapshot()`."""

    started: float = field(default_factory=time.monotonic)
    recorded: int = 0
    ok: int = 0
    failed: int = 0
    retries: int = 0
    in_flight: int = 0
    skipped: int = 0
    bytes: int = 0
    skipped_input: int = 0
    worker_restarts: int = 0
    handler_errors: int = 0
    first_handler_error: str | None = None
    latency_sum: float = 0.0
    by_status: Counter[int] = field(default_factory=Counter)
    by_error: Counter[str] = field(default_factory=Counter)
    by_proxy: Counter[str] = field(default_factory=Counter)  # final records, by proxy
    by_skip: Counter[str] = field(default_factory=Counter)
    proxy_failures: Counter[str] = field(default_factory=Counter)  # attempts it failed
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def record(self, result: FetchResult) -> None:
        self.recorded += 1
        if result.skip is not None:
            self.skipped += 1
            self.by_skip[result.skip.value] += 1
            return
        self.bytes += result.size
        self.latency_sum += result.elapsed
        if result.proxy is not None:
            self.by_proxy[result.proxy] += 1
        if result.error is not None:
            self.failed += 1
            self.by_error[result.error.type] += 1
            return
        if result.status is not None:
            self.by_status[result.status] += 1
        if result.ok:
            self.ok += 1
        self.latency.add(result.elapsed)

    def snapshot(self) -> StatsSnapshot:
        return StatsSnapshot(
            elapsed=time.monotonic() - self.started,
            recorded=self.recorded,
            ok=self.ok,
            failed=self.failed,
            retries=self.retries,
            in_flight=self.in_flight,
            skipped=self.skipped,
            bytes=self.bytes,
            by_status=dict(self.by_status),
            by_error=dict(self.by_error),
            p50=self.latency.percentile(0.50),
            p95=self.latency.percentile(0.95),
            p99=self.latency.percentile(0.99),
            skipped_input=self.skipped_input,
            worker_restarts=self.worker_restarts,
            handler_errors=self.handler_errors,
            first_handler_error=self.first_handler_error,
            by_proxy={
                proxy: (self.by_proxy[proxy], self.proxy_failures[proxy])
                for proxy in self.by_proxy.keys() | self.proxy_failures.keys()
            },
            by_skip=dict(self.by_skip),
        )
