"""Redirect chains and loops, followed across records by URL, in bounded memory.

A crawl records each redirect as it is (`status` 3xx and `redirect`: its target) and then
discovers the target like a link, so a chain of redirects is a chain of records, each target
the URL of the next. The first EDGES redirects are kept as edges URL -> target (the rest are
counted), and the outcome of each target's record when it comes after its redirect (a target
the crawl had seen already gets no record of its own then). At the end a chain is walked from
each URL no kept redirect leads to; a walk that comes back to a URL already in it is a loop,
and redirects that only lead round in a circle are loops too.

A fetch follows redirects itself: its record is a chain of `redirects` hops from `url` to
`final_url`, whose hops between are not recorded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .._urls import canonical_url, fetchable_url
from .bounded import Top

__all__ = ["Chain", "RedirectGraph", "Redirects"]

EDGES = 20_000
MOST_HOPS = 100  # a walk longer than this is cut (and marked)
_LONGEST_URL = 1000  # longer URLs are kept cut, so they match nothing


@dataclass(frozen=True, slots=True)
class Chain:
    """URLs from the first to the last, each hop's status (None where a fetch does not say);
    `end` is the last URL's outcome ('200', 'ReadError', 'skipped: offsite') or None when it
    has no record after its redirect. `loop` when the last URL is one already in the chain;
    `cut` when the walk stopped at MOST_HOPS. A fetch's chain (`fetch`) is its first and
    final URL, with `hops` between that its record does not name."""

    urls: tuple[str, ...]
    statuses: tuple[int, ...]
    end: str | None
    loop: bool = False
    cut: bool = False
    fetch_hops: int = 0

    @property
    def hops(self) -> int:
        return self.fetch_hops or len(self.statuses)


@dataclass(frozen=True, slots=True)
class Redirects:
    """What the report shows of redirects: every count exact over the records read, the
    chains over the first EDGES redirects of a crawl (`not_followed` counts the rest)."""

    recorded: int  # crawl records of a 3xx with a target
    without_target: int  # 3xx records that name none (no Location)
    not_followed: int  # redirects past EDGES
    chains: int
    hops: dict[int, int]  # number of chains by hops
    loops: int
    loop_examples: list[Chain]
    longest: list[Chain]
    fetch_followed: int  # fetch records that followed redirects (a chain each)


class RedirectGraph:
    """Add each record's redirect (`add_redirect`) and each record's outcome (`outcome`) as
    they are read; `summary()` follows the chains."""

    def __init__(self, *, edges: int = EDGES, shown: int = 20) -> None:
        self._cap = edges
        self._shown = shown
        self._edges: dict[str, tuple[int, str]] = {}  # URL -> (status, target)
        self._ends: dict[str, str | None] = {}  # target -> its outcome, once recorded
        self._fetch_chains: Top[Chain] = Top(shown)
        self._fetch_hops: Counter[int] = Counter()
        self.recorded = self.without_target = self.not_followed = 0

    def add_redirect(self, url: str, status: int, target: str | None) -> None:
        """A crawl's record of a 3xx response and its target (None: it named none)."""
        if target is None:
            self.without_target += 1
            return
        self.recorded += 1
        if len(self._edges) >= self._cap and url not in self._edges:
            self.not_followed += 1
            return
        key = _key(target)
        self._edges[url[:_LONGEST_URL]] = (status, key)
        self._ends.setdefault(key, None)

    def outcome(self, url: str, outcome: str) -> None:
        """Any record's outcome: kept when its URL is a redirect's target not yet recorded."""
        if url in self._ends and self._ends[url] is None:
            self._ends[url] = outcome

    def add_followed(self, url: str, final_url: str, hops: int, outcome: str) -> None:
        """A fetch's record that followed `hops` redirects from `url` to `final_url`."""
        self._fetch_hops[hops] += 1
        if self._fetch_chains.wants(hops):
            urls = (url[:_LONGEST_URL], final_url[:_LONGEST_URL])
            chain = Chain(urls, (), outcome, fetch_hops=hops)
            self._fetch_chains.add(hops, chain)

    def summary(self, *, loops_shown: int = 50) -> Redirects:
        targets = {target for _, target in self._edges.values()}
        walked: set[str] = set()
        hops: Counter[int] = Counter(self._fetch_hops)
        longest: Top[Chain] = Top(self._shown)
        for _, chain in self._fetch_chains.largest():
            longest.add(chain.hops, chain)
        loops: list[Chain] = []
        loop_count = chains = 0
        starts = [url for url in self._edges if url not in targets]
        # What is left after the walks from the starts are circles that nothing leads into.
        for start in [*starts, *self._edges]:
            if start in walked:
                continue
            chain = self._walk(start, walked)
            chains += 1
            hops[chain.hops] += 1
            if longest.wants(chain.hops):
                longest.add(chain.hops, chain)
            if chain.loop:
                loop_count += 1
                if len(loops) < loops_shown:
                    loops.append(chain)
        return Redirects(
            recorded=self.recorded,
            without_target=self.without_target,
            not_followed=self.not_followed,
            chains=chains + sum(self._fetch_hops.values()),
            hops=dict(sorted(hops.items())),
            loops=loop_count,
            loop_examples=loops,
            longest=[chain for _, chain in longest.largest()],
            fetch_followed=sum(self._fetch_hops.values()),
        )

    def _walk(self, start: str, walked: set[str]) -> Chain:
        urls, statuses, seen = [start], [], {start}
        url = start
        walked.add(start)
        while url in self._edges:
            status, target = self._edges[url]
            statuses.append(status)
            urls.append(target)
            if target in seen:
                return Chain(tuple(urls), tuple(statuses), None, loop=True)
            if len(statuses) >= MOST_HOPS:
                return Chain(tuple(urls), tuple(statuses), None, cut=True)
            seen.add(target)
            walked.add(target)
            url = target
        return Chain(tuple(urls), tuple(statuses), self._ends.get(url))


def _key(target: str) -> str:
    """A redirect's target in the form the crawl records the URL it leads to."""
    try:
        return canonical_url(fetchable_url(target))[:_LONGEST_URL]
    except ValueError:
        return target[:_LONGEST_URL]
