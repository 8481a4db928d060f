"""Every figure of the report, gathered from rows one at a time into structures of fixed size.

    totals = Aggregate()
    for row in rows:
        totals.add(row)

No structure grows with the number of records: counts are exact; lists (hosts, broken links,
slowest and largest pages, redirect chains) keep their first or largest entries up to a cap
and count the rest. The caps are the class's constants below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .bounded import CappedCounter, LogHistogram, TimeSeries, Top
from .records import Row
from .redirects import RedirectGraph, Redirects

__all__ = ["Aggregate", "BrokenLink", "HostStats", "Page", "host_of"]

_SHOWN_URL = 2000  # a URL kept for the report is cut to this many characters
# The statuses a crawl records as redirects, with their targets (those the transports follow).
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(slots=True)
class HostStats:
    """One host's fetched records (skipped ones are not the host's doing)."""

    pages: int = 0
    errors: int = 0  # 4xx, 5xx and no response
    size: int = 0
    latency: LogHistogram = field(default_factory=LogHistogram)

    def merge(self, other: HostStats) -> None:
        self.pages += other.pages
        self.errors += other.errors
        self.size += other.size
        self.latency.merge(other.latency)


@dataclass(frozen=True, slots=True)
class BrokenLink:
    url: str
    outcome: str  # the status, or the error's type
    found_on: str | None


@dataclass(frozen=True, slots=True)
class Page:
    url: str
    outcome: str
    elapsed: float | None
    size: int


class Aggregate:
    """The report's figures. Caps: HOSTS hosts in the per-host table (records of later ones
    go to `other_hosts`), BROKEN broken links listed, TOP slowest and largest pages, and
    RedirectGraph's EDGES redirects followed into chains; counters of status codes, error
    types and skip reasons keep 1,000 distinct values each (the rest counted as other)."""

    HOSTS = 10_000
    BROKEN = 200
    TOP = 20

    def __init__(self) -> None:
        self.records = self.fetched = self.failed = self.skipped = 0
        self.http_errors = 0  # responses of 4xx and 5xx
        self.size = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.timed = 0  # records with a fetched_at (a crawl's)
        self.crawl_records = 0
        self.statuses: CappedCounter[int] = CappedCounter()
        self.errors: CappedCounter[str] = CappedCounter()
        self.skips: CappedCounter[str] = CappedCounter()
        self.latency = LogHistogram()
        self.per_second = TimeSeries()
        self.hosts: dict[str, HostStats] = {}
        self.other_hosts = HostStats()  # records of hosts past HOSTS
        self.broken: list[BrokenLink] = []
        self.broken_total = 0
        self.slowest: Top[Page] = Top(self.TOP)
        self.largest: Top[Page] = Top(self.TOP)
        self.redirects = RedirectGraph(shown=self.TOP)

    def add(self, row: Row) -> None:
        self.records += 1
        self.size += row.size
        if row.fetched_at is not None:
            self.timed += 1
            self.per_second.add(row.fetched_at)
            if self.first_at is None or row.fetched_at < self.first_at:
                self.first_at = row.fetched_at
            if self.last_at is None or row.fetched_at > self.last_at:
                self.last_at = row.fetched_at
        if row.crawl:
            self.crawl_records += 1
        if row.skip is not None:
            self.skipped += 1
            self.skips.add(row.skip[:100])
            self.redirects.outcome(row.url, f"skipped: {row.skip[:100]}")
            return
        outcome = self._outcome(row)
        self.redirects.outcome(row.url, outcome)
        stats = self._host(row.url)
        stats.pages += 1
        stats.size += row.size
        broken = row.status is None or row.status >= 400
        if broken:
            stats.errors += 1
            self.broken_total += 1
            if len(self.broken) < self.BROKEN:
                found_on = None if row.found_on is None else _cut(row.found_on)
                self.broken.append(BrokenLink(_cut(row.url), outcome, found_on))
        if row.elapsed is not None:
            if row.status is not None:
                self.latency.add(row.elapsed)
                stats.latency.add(row.elapsed)
            if self.slowest.wants(row.elapsed):
                self.slowest.add(row.elapsed, self._page(row, outcome))
        if self.largest.wants(row.size):
            self.largest.add(row.size, self._page(row, outcome))

    def _outcome(self, row: Row) -> str:
        if row.status is None:
            self.failed += 1
            error = (row.error or "no response")[:100]
            self.errors.add(error)
            return error
        self.fetched += 1
        self.statuses.add(row.status)
        if row.status >= 400:
            self.http_errors += 1
        elif row.crawl and row.status in _REDIRECTS:
            self.redirects.add_redirect(row.url, row.status, row.redirect)
        if row.redirects and row.final_url is not None and not row.crawl:
            self.redirects.add_followed(row.url, row.final_url, row.redirects, str(row.status))
        return str(row.status)

    def _host(self, url: str) -> HostStats:
        host = host_of(url)
        stats = self.hosts.get(host)
        if stats is None:
            if len(self.hosts) >= self.HOSTS:
                return self.other_hosts
            stats = self.hosts[host] = HostStats()
        return stats

    @staticmethod
    def _page(row: Row, outcome: str) -> Page:
        return Page(_cut(row.url), outcome, row.elapsed, row.size)

    @property
    def span(self) -> float | None:
        """Seconds from the first fetch to the last (of records that say when)."""
        if self.first_at is None or self.last_at is None:
            return None
        return self.last_at - self.first_at

    @property
    def pages_per_second(self) -> float | None:
        span = self.span
        return None if not span else self.timed / span

    def status_classes(self) -> dict[str, int]:
        classes: dict[str, int] = {}
        for status, number in self.statuses.counts.items():
            name = f"{status // 100}xx" if 100 <= status < 600 else "other"
            classes[name] = classes.get(name, 0) + number
        if self.statuses.other:
            classes["other"] = classes.get("other", 0) + self.statuses.other
        if self.failed:
            classes["no response"] = self.failed
        return dict(sorted(classes.items()))

    def summary_of_redirects(self) -> Redirects:
        return self.redirects.summary()


def host_of(url: str) -> str:
    """The lower-cased host of an absolute URL, without user or port; cheap, with no parse
    of the whole URL (a million of them)."""
    _, separator, rest = url.partition("://")
    if not separator:
        return "(no host)"
    end = len(rest)
    for stop in "/?#":
        found = rest.find(stop, 0, end)
        if found != -1:
            end = found
    authority = rest[:end].rpartition("@")[2]
    if authority.startswith("["):
        host = authority[: authority.find("]") + 1]
    else:
        host = authority.partition(":")[0]
    return host.lower()[:255] or "(no host)"


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN_URL else text[:_SHOWN_URL] + "..."
