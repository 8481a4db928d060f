"""The crawl-trap guards and the per-host budgets: which URLs a crawl stops, and why.

Two kinds. A URL's shape alone (its length, its path's depth, a segment repeated) is judged
where links are discovered, so a trap's URLs never even wait in the frontier. What needs
counting (URLs fetched per host, per path, per path template) is judged where requests are
claimed from the frontier: one place sees every request of a host, whether the pages are then
fetched in this process or in worker processes, and for a shared crawl each machine claims
only its own partitions of the hosts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable

from yarl import URL

from .._config import Scope, Traps
from .._models import SkipReason

__all__ = ["ClaimGuards", "HostBytes", "path_template", "shape_trap", "without_parameters"]

_AMBIGUOUS = frozenset({"sid"})
_PATH_SESSION = re.compile(r";jsessionid=[^/?;]*", re.IGNORECASE)
_NUMBER_SEGMENT = re.compile(r"[0-9]+(?:[-_.][0-9]+)*")
_DIGITS = re.compile(r"[0-9]+")
_TOKEN = re.compile(r"[0-9A-Za-z]{16,}")
# Counters forget the key touched longest ago past these sizes: a trap's key is touched on
# every one of its URLs (refused ones too), so it stays; memory stays bounded however large
# the crawl.
_MAX_PATHS = 100_000
_MAX_HOSTS = 1_000_000


def without_parameters(url: URL, stripped: tuple[str, ...]) -> URL:
    """`url` without the query parameters named in `stripped` (lower case; a trailing * makes
    a prefix), nor, when `jsessionid` is among them, a `;jsessionid=` in its path."""
    if not stripped:
        return url
    path = url.raw_path
    query = url.raw_query_string
    new_path = path
    if ";" in path and "jsessionid" in stripped:
        new_path = _PATH_SESSION.sub("", path)
    new_query = query
    if query:
        pairs = query.split("&")
        kept = [pair for pair in pairs if not _stripped_pair(pair, stripped)]
        if len(kept) != len(pairs):
            new_query = "&".join(kept)
    if new_path == path and new_query == query:
        return url
    return URL.build(
        scheme=url.scheme,
        user=url.raw_user,
        password=url.raw_password,
        host=url.host_subcomponent or "",
        port=url.explicit_port,
        path=new_path,
        query_string=new_query,
        fragment=url.raw_fragment,
        encoded=True,
    )


def _stripped_pair(pair: str, stripped: tuple[str, ...]) -> bool:
    name, _, value = pair.partition("=")
    name = name.lower()
    if name in _AMBIGUOUS:
        # A session id, or an id of the content (Slashdot's sid=06/01/01/1234): dropped only
        # when its value looks like a session token.
        return name in stripped and _TOKEN.fullmatch(value) is not None
    return _named(name, stripped)


def _named(name: str, stripped: tuple[str, ...]) -> bool:
    return any(
        name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1]))
        for pattern in stripped
    )


def shape_trap(url: URL, canonical: str, traps: Traps) -> SkipReason | None:
    """The guard a URL's shape alone fails, or None."""
    if traps.max_url_length is not None and len(canonical) > traps.max_url_length:
        return SkipReason.URL_TOO_LONG
    path = url.raw_path
    if path.count("/") <= traps.shortest_path_checked:
        return None  # too few segments for either guard (the common case, made cheap)
    segments = [segment for segment in path.split("/") if segment]
    if traps.max_path_segments is not None and len(segments) > traps.max_path_segments:
        return SkipReason.PATH_TOO_DEEP
    repeats = traps.max_segment_repeats
    if repeats is None or len(segments) <= repeats:
        return None
    # Numbers repeat in ordinary paths (/2026/11/11/): only names count.
    names = Counter(segment for segment in segments if not _NUMBER_SEGMENT.fullmatch(segment))
    if names and max(names.values()) > repeats:
        return SkipReason.REPEATED_SEGMENT
    return None


def path_template(path: str) -> str | None:
    """The path with its number segments abstracted away (a segment of digits, or a date such
    as 2026-11-30), if they hold two numbers or more: `/cal/2026/11` is `/cal/#/#`,
    `/day/2026-11-30` is `/day/#`. A lone number is an id (`/product/123`), and a number inside
    a word (`/api/v2/`) is a name."""
    segments = path.split("/")
    numbers = 0
    for index, segment in enumerate(segments):
        if _NUMBER_SEGMENT.fullmatch(segment):
            segments[index] = "#"
            numbers += len(_DIGITS.findall(segment))  # a date is three numbers
    return "/".join(segments) if numbers >= 2 else None


class ClaimGuards:
    """The counting guards and the per-host page budget, asked for each claimed request.

    guards = ClaimGuards(config.scope, config.traps)
    skip = guards.admit(url)          # None: fetch it, counted
    guards.fetched(url, body_bytes)    # its host's bytes, once fetched
    guards.not_fetched(url)            # skipped after all (robots.txt): uncounted
    """

    def __init__(self, scope: Scope, traps: Traps) -> None:
        self._max_pages = scope.max_pages_per_host
        self._max_queries = traps.max_queries_per_path
        self._max_template = traps.max_urls_per_template
        self._pages = _Counts(_MAX_HOSTS)
        self._queries = _Counts(_MAX_PATHS)
        self._templates = _Counts(_MAX_PATHS)

    @property
    def active(self) -> bool:
        return any(
            limit is not None for limit in (self._max_pages, self._max_queries, self._max_template)
        )

    def admit(self, url: str) -> SkipReason | None:
        """None if `url` may be fetched (and it is counted), else the reason it may not."""
        host, path, query = _parts(url)
        if self._max_pages is not None and self._pages.get(host) >= self._max_pages:
            return SkipReason.BUDGET
        max_queries, max_template = self._max_queries, self._max_template
        query_key = (host, path) if query and max_queries is not None else None
        if query_key is not None and self._queries.get(query_key) >= (max_queries or 0):
            return SkipReason.TOO_MANY_QUERIES
        template = path_template(path) if max_template is not None else None
        template_key = None if template is None else (host, template)
        if template_key is not None and self._templates.get(template_key) >= (max_template or 0):
            return SkipReason.TOO_MANY_TEMPLATE_URLS
        if self._max_pages is not None:
            self._pages.add(host, 1)
        if query_key is not None:
            self._queries.add(query_key, 1)
        if template_key is not None:
            self._templates.add(template_key, 1)
        return None

    def not_fetched(self, url: str) -> None:
        """An admitted URL that was skipped after all: it took nothing from its host."""
        host, path, query = _parts(url)
        if self._max_pages is not None:
            self._pages.add(host, -1)
        if query and self._max_queries is not None:
            self._queries.add((host, path), -1)
        template = path_template(path) if self._max_template is not None else None
        if template is not None:
            self._templates.add((host, template), -1)


class HostBytes:
    """Bytes received from each host, against a budget."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._counts = _Counts(_MAX_HOSTS)

    def add(self, host: str, size: int) -> None:
        self._counts.add(host, size)

    def over(self, host: str) -> bool:
        return self._counts.get(host) >= self._budget


def _parts(url: str) -> tuple[str, str, str]:
    """(host, path, query) of a canonical URL (absolute, no fragment); cheaper than urlsplit."""
    authority, slash, rest = url.partition("://")[2].partition("/")
    path, _, query = (slash + rest).partition("?")
    host = authority.rpartition("@")[2]
    bracketed = host.startswith("[")  # an IPv6 address, whose colons are not a port's
    host = host[: host.find("]") + 1] if bracketed else host.partition(":")[0]
    return host.lower(), path or "/", query


class _Counts:
    """Counts by key, forgetting the key touched longest ago past `limit` keys."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._counts: dict[Hashable, int] = {}

    def get(self, key: Hashable) -> int:
        """The count, and the key touched: a key over its limit is asked about on every URL
        it refuses, so it is never the one forgotten."""
        counts = self._counts
        count = counts.pop(key, None)
        if count is None:
            return 0
        counts[key] = count
        return count

    def add(self, key: Hashable, amount: int) -> None:
        counts = self._counts
        count = counts.pop(key, 0) + amount
        if len(counts) >= self._limit:
            del counts[next(iter(counts))]
        counts[key] = count  # re-inserted last: the dict is in order of last touch
