"""What a crawl does with each fetched page: its record, the links it leads to, its items.

This runs where the page was fetched: in the crawl's own process, or in a worker process that
sends each ProcessedPage to the coordinator, which owns the frontier and the outputs. Either
way the engine, the robots.txt cache and the politeness state of a host live here, next to the
fetching.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from yarl import URL

from .._config import CrawlConfig
from .._engine.engine import FETCH, Engine, GateVerdict
from .._engine.throttle import Throttle
from .._engine.transport import REDIRECT_STATUSES
from .._engine.transports import open_transport
from .._models import ErrorInfo, Exchange, FetchResult, Outcome, Request, SkipReason, Visit
from .._stats import Stats
from .._urls import canonical_url, fingerprint, host_key
from ..frontier import Discovered
from .directives import FetchedCanonicals, robots_directives
from .extract import Extractor
from .parse import Page, parse_html, resolve_link
from .recrawl import UNCHANGED, visit_of
from .robots import RobotsCache, RobotsVerdict
from .scope import ScopeRules
from .sitemaps import read_sitemap
from .traps import HostBytes, without_parameters

__all__ = ["Handler", "PageProcessor", "ProcessedPage", "page_record"]

logger = logging.getLogger("corocrawl")

# A page handler yields items (dicts, written to the items output) and URLs to follow.
Handler = Callable[[Page], AsyncIterator[dict[str, Any] | str]]

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_LAG_CHECK_EVERY = 0.1
_LAG_REPORTED = 0.25


@dataclass(slots=True)
class ProcessedPage:
    """One request's outcome, ready to commit: links go to the frontier before the record is
    written; `result` keeps its request (for the frontier id). Its body, parsed already, is
    not kept by the crawler, nor sent back by a worker process."""

    result: FetchResult
    record: dict[str, Any]
    links: list[Discovered] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    visit: Visit | None = None  # what the frontier keeps of a fetch, for a recrawl
    robots: tuple[Exchange, ...] = ()  # robots.txt fetched meanwhile, for an archive

    @property
    def outcome(self) -> Outcome:
        """The request's final state in the frontier."""
        return self.result.outcome

    @classmethod
    def unfetched(cls, result: FetchResult) -> ProcessedPage:
        """A page with nothing to parse (an error made outside any engine)."""
        return cls(result, page_record(result))


def page_record(result: FetchResult) -> dict[str, Any]:
    """The crawl's record of a request: the fetch record plus where it was found."""
    request = result.request
    assert request is not None
    record = result.to_record()
    record.update(
        depth=request.depth,
        found_on=request.referrer,
        title=None,
        links=None,
        canonical=None,
        skip=result.skip,
    )
    return record


class PageProcessor:
    """Fetches a crawl's requests and turns each result into a ProcessedPage.

    pages = PageProcessor(config, seed_hosts=["example.org"])
    await pages.run(requests, emit)  # emit(page) is awaited once per request

    Its engine and robots.txt share one transport, opened for the run.
    """

    def __init__(
        self,
        config: CrawlConfig,
        *,
        seed_hosts: Iterable[str] = (),
        handler: Handler | None = None,
        stats: Stats | None = None,
    ) -> None:
        self.config = config
        self._rules = ScopeRules(config.scope, seed_hosts, config.traps)
        self._stripped = config.traps.stripped_parameters
        self._handler = handler
        # Redirects are not followed by the transport: each target is discovered like a link,
        # so it meets the same scope, robots and dedupe checks, and loops end at dedupe.
        # X-Robots-Tag is read for its directives, so it is kept with the page's headers.
        # ETag and Last-Modified are kept for a recrawl's conditional requests.
        needed = ("x-robots-tag", "etag", "last-modified")
        record_headers = tuple(dict.fromkeys((*config.fetch.record_headers, *needed)))
        self._fetch_config = replace(
            config.fetch, keep_body=True, follow_redirects=False, record_headers=record_headers
        )
        self._canonicals = FetchedCanonicals() if config.canonical_dedupe else None
        self._sitemaps = config.sitemaps
        # Kept here, where the host's pages are fetched, so the budget is checked right
        # before each fetch rather than when requests are claimed, far ahead.
        byte_budget = config.scope.max_bytes_per_host
        self._bytes = None if byte_budget is None else HostBytes(byte_budget)
        self.engine = Engine(
            self._fetch_config,
            stats=stats,
            delay=config.politeness.delay,
            gate=_PageGate(self) if _PageGate.needed(config) else None,
            throttle=throttle_for(config),
        )
        self.robots: RobotsCache | None = None  # for a run: shares its transport
        self._extractor: Extractor | None = None  # for a run: has a thread
        self._last_handler = ""

    @property
    def stats(self) -> Stats:
        return self.engine.stats

    @property
    def stopping(self) -> bool:
        return self.engine.stopping

    @property
    def idle(self) -> bool:
        return self.engine.idle

    def stop(self) -> None:
        self.engine.stop()

    def not_started(self) -> list[Request]:
        return self.engine.not_started()

    def queued_by_host(self, top: int) -> list[tuple[str, int]]:
        return self.engine.queued_by_host(top)

    def over_byte_budget(self, url: URL) -> bool:
        return self._bytes is not None and self._bytes.over(host_key(url))

    def add_seed_host(self, host: str) -> None:
        self._rules.add_seed_host(host)

    async def run(
        self,
        requests: AsyncIterable[Request],
        emit: Callable[[ProcessedPage], Awaitable[None]],
    ) -> None:
        """Fetch `requests`, emitting one ProcessedPage each, as `Engine.run` emits results."""

        async def on_result(result: FetchResult) -> None:
            await emit(await self.process(result))

        lag_watch = asyncio.create_task(self._watch_loop_lag())
        if self.config.extract:
            self._extractor = Extractor(self.config.extract)
        try:
            async with open_transport(self._fetch_config) as transport:
                politeness = self.config.politeness
                self.robots = RobotsCache(
                    transport,
                    self.config.fetch.user_agent,
                    retry=politeness.robots_retry,
                    tries=politeness.robots_tries,
                    crawl_delay_cap=politeness.crawl_delay_max,
                )
                await self.engine.run(requests, on_result, transport=transport)
        finally:
            self.robots = None
            if self._extractor is not None:
                self._extractor.close()
                self._extractor = None
            lag_watch.cancel()

    async def process(self, result: FetchResult) -> ProcessedPage:
        request = result.request
        assert request is not None
        if request.depth == 0:
            # A seed: its host is in scope here even if it joined the crawl after this process
            # started (a seed added to a running shared crawl).
            self._rules.add_seed_host(host_key(URL(request.url)))
        if self._bytes is not None and result.size:
            self._bytes.add(host_key(URL(request.url)), result.size)
        record = page_record(result)
        links: list[Discovered] = []
        items: list[dict[str, Any]] = []
        url = URL(request.url)
        host = host_key(url)
        visit, change = visit_of(result, self.config.revisit)
        if change is not None:
            record["recrawl"] = change
        location = result.headers.get("location") if result.status in REDIRECT_STATUSES else None
        if change is not None and change["change"] == UNCHANGED:
            pass  # its links were followed when it was new: they have schedules of their own
        elif location is not None:
            target = resolve_link(URL(result.url), location)
            record["redirect"] = None if target is None else str(target)
            if target is not None:
                # A sitemap's redirect leads to the sitemap.
                hop = request.host_depth + 1
                links = self._discover([target], request.depth + 1, result.url, host=host,
                                       host_depth=hop, sitemap=request.sitemap)  # fmt: skip
        elif request.sitemap:
            if result.ok and result.body is not None:
                links = await self._read_sitemap(result, record)
        elif result.ok and result.body is not None and result.content_type in _HTML_TYPES:
            page = parse_html(
                result.body,
                URL(result.final_url or result.url),
                charset=result.charset,
                max_links=self.config.max_links_per_page,
                status=result.status,
                headers=result.headers,
                requisites=self.config.page_requisites,
                respect_nofollow=self.config.respect_nofollow,
            )
            page.robots |= robots_directives(result.headers.get("x-robots-tag"))
            canonical = self._canonical(page.canonical)
            record.update(title=page.title, links=page.links_found, canonical=canonical)
            if "noindex" in page.robots:
                record["noindex"] = True
            taken = len(page.links) + len(page.requisites)
            if page.links_found > taken:
                record["links_dropped"] = page.links_found - taken
            follow = list(page.links)
            if "nofollow" in page.robots:
                record["nofollow"] = True
                follow = []
            if self._canonicals is not None and self._canonicals.duplicate(request.url, canonical):
                record["duplicate_of"] = canonical
                follow = []
            if self._extractor is not None:
                items.append(await self._extractor.item(page))
            if self._handler is not None:
                record["handler_error"] = await self._run_handler(page, follow, items)
            links = self._discover(follow, request.depth + 1, str(page.url), host=host,
                                   host_depth=request.host_depth + 1)  # fmt: skip
            # A page's requisites are part of it: at its own depth, so the last level of a
            # crawl is shown whole, as wget -p does.
            links += self._discover(page.requisites, request.depth, str(page.url), host=host,
                                    host_depth=request.host_depth)  # fmt: skip
        if self._sitemaps is not None and request.skip is None:
            links += self._host_sitemaps(url, request.depth + 1)
        robots = () if self.robots is None else self.robots.take_exchanges()
        return ProcessedPage(result, record, links, items, visit, robots)

    async def _read_sitemap(self, result: FetchResult, record: dict[str, Any]) -> list[Discovered]:
        """The URLs and sitemaps a sitemap lists, at its own depth (a host's sitemaps and what
        they list are all one hop from the page that led there); what it held, and why not
        all of it was read, goes into its record."""
        assert self._sitemaps is not None
        assert result.body is not None
        request = result.request
        assert request is not None
        # In a thread: 50 MB of XML takes seconds to read, which the event loop cannot spare.
        content = await asyncio.to_thread(
            read_sitemap, result.body, URL(result.final_url or result.url),
            since=self._sitemaps.since,
        )  # fmt: skip
        record["sitemap"] = content.summary()
        record["links"] = len(content.pages) + len(content.sitemaps)
        pages = (URL(entry.url, encoded=True) for entry in content.pages)
        links = self._discover(pages, request.depth, result.url)
        nested = request.sitemap + 1
        too_deep = SkipReason.SITEMAP_TOO_DEEP if nested > self._sitemaps.nesting else None
        sitemaps = (URL(entry.url, encoded=True) for entry in content.sitemaps)
        links += self._discover(sitemaps, request.depth, result.url, sitemap=nested,
                                skip=too_deep)  # fmt: skip
        return links

    def _host_sitemaps(self, url: URL, depth: int) -> list[Discovered]:
        """The sitemaps of this URL's host, the first time its robots.txt is at hand: those
        robots.txt names, else /sitemap.xml."""
        named = None if self.robots is None else self.robots.take_sitemaps(url)
        if named is None:
            return []
        if named:
            return self._discover(named, depth, str(url.origin() / "robots.txt"), sitemap=1)
        return self._discover([url.origin() / "sitemap.xml"], depth, str(url), sitemap=1)

    def _canonical(self, link: URL | None) -> str | None:
        """A page's canonical link in the form the frontier keeps URLs in."""
        if link is None:
            return None
        link = without_parameters(link, self._stripped)
        return canonical_url(link, sort_query=self.config.sort_query)

    async def _run_handler(
        self, page: Page, follow: list[URL], items: list[dict[str, Any]]
    ) -> str | None:
        """Items join `items`, URLs join `follow`; a handler that raises costs its page a
        `handler_error`, never the crawl (what it yielded before raising is kept)."""
        assert self._handler is not None
        self._last_handler = getattr(self._handler, "__qualname__", repr(self._handler))
        try:
            async for output in self._handler(page):
                if isinstance(output, str):
                    with contextlib.suppress(ValueError):
                        follow.append(page.url.join(URL(output)))
                else:
                    items.append({"url": str(page.url), **output})
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _discover(
        self,
        links: Iterable[URL],
        depth: int,
        referrer: str,
        *,
        host: str | None = None,
        host_depth: int = 0,
        sitemap: int = 0,
        skip: SkipReason | None = None,
    ) -> list[Discovered]:
        """Frontier entries for links found at `depth`; those on `host` are at `host_depth`
        within it, the others enter their host (0). A link the rules keep gets `skip`."""
        discovered = []
        for link in links:
            if link.scheme not in ("http", "https") or not link.raw_host:
                continue
            link = without_parameters(link, self._stripped)
            canonical = canonical_url(link, sort_query=self.config.sort_query)
            within = host_depth if host_key(link) == host else 0
            reason = self._rules.skip_reason(link, canonical, depth, within) or skip
            discovered.append(
                Discovered(
                    fingerprint(canonical), canonical, depth, referrer, reason, within, sitemap
                )
            )
        return discovered

    async def _watch_loop_lag(self) -> None:
        """Report the event loop stalling: a blocking call in a handler stops every fetch."""
        while True:
            started = time.monotonic()
            await asyncio.sleep(_LAG_CHECK_EVERY)
            lag = time.monotonic() - started - _LAG_CHECK_EVERY
            if lag > _LAG_REPORTED:
                culprit = f" (last handler run: {self._last_handler})" if self._last_handler else ""
                logger.warning("the event loop was blocked for %.2fs%s", lag, culprit)


def throttle_for(config: CrawlConfig) -> Throttle:
    """The adaptive politeness of a crawl: see `Politeness`."""
    politeness = config.politeness
    target = politeness.target_concurrency or float(config.fetch.limits.host_slots)
    return Throttle(least=politeness.delay, most=politeness.max_delay, target=target,
                    adaptive=politeness.adaptive)  # fmt: skip


_OVER_BUDGET = GateVerdict(skip=SkipReason.BUDGET)


class _PageGate:
    """The engine's gate for a crawl: the host's byte budget, then robots.txt's verdict
    (through the processor's cache, when robots.txt is obeyed)."""

    def __init__(self, pages: PageProcessor) -> None:
        self._pages = pages
        config = pages.config
        self._obeys_robots = config.politeness.respect_robots
        # Sitemaps are named in robots.txt: it is read for them even where it is not obeyed.
        self._reads_robots = self._obeys_robots or config.sitemaps is not None

    @staticmethod
    def needed(config: CrawlConfig) -> bool:
        return (
            config.politeness.respect_robots
            or config.sitemaps is not None
            or config.scope.max_bytes_per_host is not None
        )

    def known(self, request: Request, url: URL) -> GateVerdict | None:
        if self._pages.over_byte_budget(url):
            return _OVER_BUDGET
        if not self._reads_robots:
            return FETCH
        robots = self._pages.robots
        verdict = None if robots is None else robots.known_verdict(url)
        return None if verdict is None else self._translated(verdict)

    async def ask(self, request: Request, url: URL) -> GateVerdict:
        # Asked again at the host's turn: the requests taken in ahead of it may have spent
        # the budget since it came in.
        if self._pages.over_byte_budget(url):
            return _OVER_BUDGET
        if not self._reads_robots:
            return FETCH
        robots = self._pages.robots
        assert robots is not None  # set for the run
        return self._translated(await robots.verdict(url))

    def _translated(self, verdict: RobotsVerdict) -> GateVerdict:
        if not self._obeys_robots:
            return FETCH
        if verdict.unavailable is not None:
            error = ErrorInfo("RobotsUnavailable", verdict.unavailable)
            return GateVerdict(skip=SkipReason.ROBOTS_UNAVAILABLE, error=error)
        if verdict.retry_in is not None:
            return GateVerdict(retry_in=max(verdict.retry_in, 0.01))
        host_delay = verdict.crawl_delay
        if host_delay is not None and host_delay <= self._pages.config.politeness.delay:
            host_delay = None
        if not verdict.allowed:
            return GateVerdict(skip=SkipReason.ROBOTS, host_delay=host_delay)
        return FETCH if host_delay is None else GateVerdict(host_delay=host_delay)
