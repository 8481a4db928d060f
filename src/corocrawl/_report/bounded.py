"""Aggregates of fixed size, whatever the number of records added: each says its bound.

latency = LogHistogram()     # at most 20 buckets a decade, 1 us to 10^6 s
per_second = TimeSeries()    # at most 512 buckets; their width doubles to stay so
slowest = Top(20)            # the 20 largest keys, a heap
statuses = CappedCounter()   # at most 1,000 keys; the rest counted together
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Iterable
from itertools import count
from typing import Generic, TypeVar

__all__ = ["CappedCounter", "LogHistogram", "TimeSeries", "Top"]

_K = TypeVar("_K", bound=Hashable)
_T = TypeVar("_T")


class LogHistogram:
    """Counts of durations in log-scale buckets, STEPS a decade: bucket k holds values in
    [10**(k/STEPS), 10**((k+1)/STEPS)), so a quantile read from it is within 6% of the true
    one. Values are clamped to LOWEST..HIGHEST: at most 240 buckets."""

    STEPS = 20
    LOWEST, HIGHEST = 1e-6, 1e6

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0

    def add(self, value: float) -> None:
        value = min(max(value, self.LOWEST), self.HIGHEST / 1.0001)
        bucket = math.floor(math.log10(value) * self.STEPS)
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.total += 1

    def merge(self, other: LogHistogram) -> None:
        for bucket, number in other.counts.items():
            self.counts[bucket] = self.counts.get(bucket, 0) + number
        self.total += other.total

    def quantile(self, q: float) -> float | None:
        """The value below which a fraction `q` of those added lie (the geometric middle of
        its bucket), or None when nothing was added."""
        if not self.total:
            return None
        rank = q * self.total
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return float(10 ** ((bucket + 0.5) / self.STEPS))
        raise AssertionError("unreachable: the counts add up to the total")

    def coarse(self, per_decade: int = 5) -> list[tuple[float, float, int]]:
        """(low, high, count) of buckets `per_decade` a decade (a divisor of STEPS), from the
        lowest used to the highest used, the empty ones between included."""
        if not self.counts:
            return []
        merge = self.STEPS // per_decade
        merged: dict[int, int] = {}
        for bucket, number in self.counts.items():
            merged[bucket // merge] = merged.get(bucket // merge, 0) + number
        return [
            (10 ** (k / per_decade), 10 ** ((k + 1) / per_decade), merged.get(k, 0))
            for k in range(min(merged), max(merged) + 1)
        ]


class TimeSeries:
    """Counts of moments (time.time() seconds) per bucket of `width` seconds, aligned on
    multiples of it. When the buckets from the first to the last would number more than
    `cap`, the width doubles and each two neighbours merge: at most `cap` buckets, and as
    fine as that allows."""

    def __init__(self, *, cap: int = 512, width: float = 1 / 16) -> None:
        self.cap = cap
        self.width = width
        self.counts: dict[int, int] = {}
        self._low = self._high = 0

    def add(self, moment: float) -> None:
        key = math.floor(moment / self.width)
        if not self.counts:
            self._low = self._high = key
        elif key < self._low or key > self._high:
            self._low, self._high = min(self._low, key), max(self._high, key)
            while self._high - self._low >= self.cap:
                self._double()
                key = math.floor(moment / self.width)
        self.counts[key] = self.counts.get(key, 0) + 1

    def _double(self) -> None:
        self.width *= 2
        merged: dict[int, int] = {}
        for key, number in self.counts.items():
            merged[key // 2] = merged.get(key // 2, 0) + number
        self.counts = merged
        self._low //= 2
        self._high //= 2

    def bars(self, most: int = 120) -> tuple[float, list[tuple[float, int]]]:
        """(width, [(start, count)]) of at most `most` contiguous bars, empty ones included,
        each as wide as it must be (a power of two times the width) to fit."""
        if not self.counts:
            return self.width, []
        width, counts, low, high = self.width, self.counts, self._low, self._high
        while high - low >= most:
            width *= 2
            halved: dict[int, int] = {}
            for key, number in counts.items():
                halved[key // 2] = halved.get(key // 2, 0) + number
            counts, low, high = halved, low // 2, high // 2
        return width, [(key * width, counts.get(key, 0)) for key in range(low, high + 1)]


class Top(Generic[_T]):
    """The `n` items of the largest keys among those offered, by a heap of n: ties go to
    the first offered."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._heap: list[tuple[float, int, _T]] = []
        self._order = count(0, -1)  # among equal keys, the earlier one ranks higher

    def wants(self, key: float) -> bool:
        """Whether an item of this key would be kept (to build it only then)."""
        return len(self._heap) < self.n or key > self._heap[0][0]

    def add(self, key: float, item: _T) -> None:
        entry = (key, next(self._order), item)
        if len(self._heap) < self.n:
            heapq.heappush(self._heap, entry)
        elif key > self._heap[0][0]:
            heapq.heapreplace(self._heap, entry)

    def __len__(self) -> int:
        return len(self._heap)

    def largest(self) -> list[tuple[float, _T]]:
        return [(key, item) for key, _, item in sorted(self._heap, reverse=True)]


class CappedCounter(Generic[_K]):
    """A count per key for the first `cap` distinct keys; the counts of any later key are
    added to `other` (records from anywhere may hold any number of distinct values)."""

    def __init__(self, cap: int = 1000) -> None:
        self.cap = cap
        self.counts: dict[_K, int] = {}
        self.other = 0

    def add(self, key: _K, number: int = 1) -> None:
        if key in self.counts:
            self.counts[key] += number
        elif len(self.counts) < self.cap:
            self.counts[key] = number
        else:
            self.other += number

    def total(self) -> int:
        return sum(self.counts.values()) + self.other

    def most_common(self) -> list[tuple[_K, int]]:
        return sorted(self.counts.items(), key=lambda item: -item[1])

    def update(self, keys: Iterable[_K]) -> None:
        for key in keys:
            self.add(key)
