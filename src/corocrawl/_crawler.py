"""The one place a crawl is wired: frontier -> engine -> parse -> scope -> frontier, and records.

Two orderings keep the promise that no URL is lost. A page's links reach the frontier before
the page's own record is written, and a request is marked complete only after its record has
been flushed to the output. Whenever the process dies, the worst case is that requests which
were in flight are fetched, and recorded, again. Pages are committed in batches (their links
in one transaction, then their records), which keeps both orderings at a fraction of the cost
of a transaction per page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from yarl import URL

from ._config import FetchConfig, Limits, _require
from ._engine import Engine
from ._models import FetchResult, Request
from ._parse import Page, parse_html, resolve_link
from ._robots import RobotsCache
from ._scope import Scope, ScopeRules, SkipReason
from ._sinks import JsonlSink
from ._stats import Stats
from ._urls import canonical_url, fetchable_url, fingerprint, host_key
from .frontier import Discovered, Frontier

__all__ = ["CrawlConfig", "Crawler", "Handler"]

logger = logging.getLogger("corocrawl")

# A page handler yields items (dicts, written to the items output) and URLs to follow.
Handler = Callable[[Page], AsyncIterator[dict[str, Any] | str]]

DEFAULT_CRAWL_LIMITS = Limits(concurrency=64, per_host=4)
_COMMIT_EVERY = 0.05
_COMMIT_PAGES = 256
_FLUSH_EVERY = 0.5
_LAG_CHECK_EVERY = 0.1
_LAG_REPORTED = 0.25
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class CrawlConfig:
    """Everything that shapes a crawl.

    `delay` is the least time between two requests to one host (robots.txt's Crawl-delay may
    ask for more, honoured up to 30 s). Bodies are always kept: a crawl parses them.

        CrawlConfig(scope=Scope(max_depth=2), delay=0.5)
    """

    fetch: FetchConfig = field(default_factory=lambda: FetchConfig(limits=DEFAULT_CRAWL_LIMITS))
    scope: Scope = field(default_factory=Scope)
    delay: float = 0.0
    respect_robots: bool = True
    max_links_per_page: int = 1000
    sort_query: bool = False
    robots_retry: float = 300.0  # ask again this long after a robots.txt 5xx or no answer

    def __post_init__(self) -> None:
        _require(self.delay >= 0, f"delay must be >= 0, got {self.delay}")
        _require(
            self.max_links_per_page >= 0,
            f"max links per page must be >= 0, got {self.max_links_per_page}",
        )


class Crawler:
    """Crawls from seeds within a scope, writing one record per URL it reaches.

        frontier = await SqliteFrontier.open("crawl.db")
        crawler = Crawler(CrawlConfig(), frontier=frontier, output=JsonlSink("pages.jsonl"))
        await crawler.run(["https://example.org/"])

    Running again with the same frontier resumes where the last run stopped.
    """

    def __init__(
        self,
        config: CrawlConfig,
        *,
        frontier: Frontier,
        output: JsonlSink,
        handler: Handler | None = None,
        items: JsonlSink | None = None,
        stats: Stats | None = None,
    ) -> None:
        self.config = config
        self.stats = stats if stats is not None else Stats()
        self._frontier = frontier
        self._output = output
        self._handler = handler
        self._items = items
        self._rules = ScopeRules(config.scope)
        self._engine = Engine(
            # Redirects are not followed by the fetcher: each target is discovered like a link,
            # so it meets the same scope, robots and dedupe checks, and loops end at dedupe.
            replace(config.fetch, keep_body=True, follow_redirects=False),
            stats=self.stats,
            delay=config.delay,
            gate=self._check_robots if config.respect_robots else None,
        )
        self._robots: RobotsCache | None = None
        self._progress = asyncio.Event()
        self._finished = asyncio.Event()
        self._batch_links: list[Discovered] = []
        self._batch_records: list[tuple[dict[str, Any], int, str]] = []
        self._commit_lock = asyncio.Lock()
        self._written: dict[str, list[int]] = {"done": [], "failed": [], "skipped": []}
        self._fetches_allowed = config.scope.max_pages
        self._last_handler = ""

    def stop(self) -> None:
        """Take no new requests; those in flight finish and are recorded."""
        self._engine.stop()
        self._progress.set()

    async def run(self, seeds: Iterable[str]) -> None:
        await self._add_seeds(seeds)
        counts = self._frontier.counts()
        if self._fetches_allowed is not None:
            self._fetches_allowed -= counts.done + counts.failed  # skips fetched nothing
        try:
            # A failing flush (disk full, state file gone) ends the crawl loudly, not silently.
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._flush_periodically())
                lag_watch = tasks.create_task(self._watch_loop_lag())
                try:
                    await self._engine.run(self._requests(), self._on_result)
                finally:
                    # Stopped between commits, never cancelled in the middle of one.
                    self._finished.set()
                    lag_watch.cancel()
        except BaseException:
            # What is not flushed stays leased, so it is pending again next run: nothing lost.
            with contextlib.suppress(Exception):
                await self._flush()
            raise
        await self._flush()
        # A clean stop gives back what was claimed but never fetched: pending again, not lost.
        unstarted = [request.id for request in self._engine.not_started() if request.id is not None]
        await self._frontier.release(unstarted)

    async def _add_seeds(self, seeds: Iterable[str]) -> None:
        discovered = []
        for text in seeds:
            url = fetchable_url(text)
            self._rules.add_seed_host(host_key(url))
            canonical = canonical_url(url, sort_query=self.config.sort_query)
            discovered.append(Discovered(fingerprint(canonical), canonical, depth=0))
        await self._frontier.add(discovered)
        # On a resume the seeds may not be given again: the scope comes from the state too.
        for seed in await self._frontier.seeds():
            self._rules.add_seed_host(host_key(URL(seed)))

    async def _requests(self) -> AsyncIterator[Request]:
        """Leased requests for the engine, until nothing is pending and nothing in flight."""
        batch_size = min(256, self.config.fetch.limits.concurrency)
        while not self._engine.stopping:
            # Cleared before claiming: a result that lands during the claim still wakes us.
            self._progress.clear()
            claimed = await self._frontier.claim(batch_size)
            for leased in claimed:
                skip = leased.skip
                if skip is None and self._fetches_allowed is not None:
                    if self._fetches_allowed <= 0:
                        skip = SkipReason.MAX_PAGES
                    self._fetches_allowed -= 1
                yield Request(
                    leased.url, leased.id or 0, leased.depth, leased.referrer, leased.id, skip
                )
            if claimed:
                continue
            if (
                self._engine.idle
                and not self._batch_records
                and not self._commit_lock.locked()
                and self._frontier.counts().pending == 0
            ):
                return
            await self._progress.wait()

    async def _check_robots(self, request: Request, url: URL, host: str) -> str | float | None:
        if self._robots is None:
            self._robots = RobotsCache(
                self._engine.fetcher,
                self.config.fetch.user_agent,
                unreachable_retry=self.config.robots_retry,
            )
        verdict = await self._robots.verdict(url)
        if verdict.retry_in is not None:
            return max(verdict.retry_in, 0.01)
        if verdict.crawl_delay is not None and verdict.crawl_delay > self.config.delay:
            self._engine.set_host_delay(host, verdict.crawl_delay)
        return None if verdict.allowed else SkipReason.ROBOTS

    async def _on_result(self, result: FetchResult) -> None:
        request = result.request
        assert request is not None
        assert request.id is not None
        record = result.to_record()
        record.update(
            depth=request.depth, found_on=request.referrer, title=None, links=None, skip=result.skip
        )
        location = result.headers.get("location") if result.status in _REDIRECTS else None
        if location is not None:
            target = resolve_link(URL(result.url), location)
            record["redirect"] = None if target is None else str(target)
            if target is not None:
                self._batch_links.extend(self._discover([target], request.depth + 1, result.url))
        elif result.ok and result.body is not None and result.content_type in _HTML_TYPES:
            page = parse_html(
                result.body,
                URL(result.final_url or result.url),
                charset=result.charset,
                max_links=self.config.max_links_per_page,
            )
            record.update(title=page.title, links=page.links_found)
            if page.links_found > len(page.links):
                record["links_dropped"] = page.links_found - len(page.links)
            follow = list(page.links)
            if self._handler is not None:
                record["handler_error"] = await self._run_handler(page, follow)
            self._batch_links.extend(self._discover(follow, request.depth + 1, str(page.url)))
        outcome = "skipped" if result.skip else "failed" if result.error else "done"
        if result.skip and request.skip is None and self._fetches_allowed is not None:
            self._fetches_allowed += 1  # refused by robots.txt after taking a page of the budget
        self._batch_records.append((record, request.id, outcome))
        if len(self._batch_records) >= _COMMIT_PAGES:
            await self._commit()

    async def _commit(self) -> None:
        """Links of the batch into the frontier, then the batch's records into the output."""
        async with self._commit_lock:
            links, self._batch_links = self._batch_links, []
            records, self._batch_records = self._batch_records, []
            if links:
                await self._frontier.add(links)
            for record, request_id, outcome in records:
                self._output.write(record)
                self._written[outcome].append(request_id)
        self._progress.set()

    async def _run_handler(self, page: Page, follow: list[URL]) -> str | None:
        """Items go to the items output, URLs join `follow`; a handler that raises costs its
        page a `handler_error`, never the crawl."""
        assert self._handler is not None
        self._last_handler = getattr(self._handler, "__qualname__", repr(self._handler))
        items: list[dict[str, Any]] = []
        error = None
        try:
            async for output in self._handler(page):
                if isinstance(output, str):
                    with contextlib.suppress(ValueError):
                        follow.append(page.url.join(URL(output)))
                else:
                    items.append(output)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        if self._items is not None:  # outside the try: a failing output stops the crawl
            for item in items:
                self._items.write({"url": str(page.url), **item})
        return error

    def _discover(self, links: Iterable[URL], depth: int, referrer: str) -> list[Discovered]:
        discovered = []
        for link in links:
            if link.scheme not in ("http", "https") or not link.raw_host:
                continue
            canonical = canonical_url(link, sort_query=self.config.sort_query)
            skip = self._rules.skip_reason(link, canonical, depth)
            discovered.append(Discovered(fingerprint(canonical), canonical, depth, referrer, skip))
        return discovered

    async def _flush_periodically(self) -> None:
        last_flush = time.monotonic()
        while not self._finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), _COMMIT_EVERY)
            if time.monotonic() - last_flush >= _FLUSH_EVERY:
                await self._flush()
                last_flush = time.monotonic()
            elif self._batch_records:
                await self._commit()

    async def _flush(self) -> None:
        """Commit, flush the records, then mark their requests complete: in that order."""
        await self._commit()
        written = self._written
        self._written = {"done": [], "failed": [], "skipped": []}
        self._output.flush()
        if self._items is not None:
            self._items.flush()
        await self._frontier.complete(written["done"], written["failed"], written["skipped"])

    async def _watch_loop_lag(self) -> None:
        """Report the event loop stalling: a blocking call in a handler stops every fetch."""
        while True:
            started = time.monotonic()
            await asyncio.sleep(_LAG_CHECK_EVERY)
            lag = time.monotonic() - started - _LAG_CHECK_EVERY
            if lag > _LAG_REPORTED:
                culprit = f" (last handler run: {self._last_handler})" if self._last_handler else ""
                logger.warning("the event loop was blocked for %.2fs%s", lag, culprit)
