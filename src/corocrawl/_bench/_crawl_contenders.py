"""Crawlers under test: each crawls the synthetic site from SEEDS (space-separated, one per
host) with CONCURRENCY requests in flight, robots off, and returns (pages fetched with status
200, pages that failed)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["CRAWL_CONTENDERS", "crawl_aiohttp", "crawl_corocrawl", "crawl_scrapy"]

WORKER_COUNTS = (2, 4)  # one worker: crawl-corocrawl-curl or -aiohttp, all in one process

SITE_PREFIX = "/site/"


async def crawl_aiohttp(seeds: str, pages: int, concurrency: int) -> tuple[int, int]:
    """The minimal hand-written crawler: aiohttp, selectolax, a set for dedupe, BFS by queue."""
    import aiohttp
    from selectolax.lexbor import LexborHTMLParser
    from yarl import URL

    seen = set(seeds.split())
    queue: asyncio.Queue[str] = asyncio.Queue()
    for seed in seen:
        queue.put_nowait(seed)
    counts = {"ok": 0, "failed": 0}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while True:
                url = await queue.get()
                try:
                    async with session.get(url) as response:
                        body = await response.text()
                    counts["ok"] += 1
                    base = URL(url)
                    for node in LexborHTMLParser(body).css("a[href]"):
                        link = str(base.join(URL(node.attributes.get("href") or "")))
                        if link not in seen and SITE_PREFIX in link:
                            seen.add(link)
                            queue.put_nowait(link)
                except (aiohttp.ClientError, OSError, TimeoutError):
                    counts["failed"] += 1
                finally:
                    queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await queue.join()
        for task in workers:
            task.cancel()
    return counts["ok"], counts["failed"]


async def crawl_corocrawl(
    seeds: str,
    pages: int,
    concurrency: int,
    *,
    workers: int = 1,
    transport: str | None = None,
    guarded: bool = True,
    warc: bool = False,
    extract: tuple[str, ...] = (),
) -> tuple[int, int]:
    """corocrawl's Crawler with its SQLite frontier and a JSONL output, robots off; with
    `workers`, pages are fetched and parsed in that many processes; on `transport`, or the
    default one. Not `guarded`: its crawl-trap guards off and session ids kept, to show
    what they cost. With `warc`, every exchange is archived to a WARC file too; with `extract`,
    each page's items are written to a JSONL file."""
    import corocrawl
    from corocrawl.frontier import SqliteFrontier

    fetch = corocrawl.FetchConfig(
        limits=corocrawl.Limits(concurrency=concurrency, per_host=concurrency)
    )
    config = corocrawl.CrawlConfig(
        fetch=fetch if transport is None else dataclasses.replace(fetch, transport=transport),
        politeness=corocrawl.Politeness(respect_robots=False),
        traps=corocrawl.Traps() if guarded else _no_traps(),
        extract=extract,
    )
    with tempfile.TemporaryDirectory() as folder:
        frontier = await SqliteFrontier.open(Path(folder) / "crawl.db")
        output = corocrawl.JsonlSink(Path(folder) / "pages.jsonl")
        stats = corocrawl.Stats()
        archive = corocrawl.WarcWriter(Path(folder) / "crawl.warc.gz") if warc else None
        items = corocrawl.JsonlSink(Path(folder) / "items.jsonl") if extract else None
        try:
            crawler = corocrawl.Crawler(
                config, frontier=frontier, output=output, stats=stats, workers=workers,
                warc=archive, items=items,
            )  # fmt: skip
            await crawler.run(seeds.split())
        finally:
            if archive is not None:
                archive.close()
            output.close()
            if items is not None:
                items.close()
            await frontier.close()
    return stats.ok, stats.failed


def crawl_scrapy(seeds: str, pages: int, concurrency: int) -> tuple[int, int]:
    """A minimal Scrapy CrawlSpider with a LinkExtractor, the same concurrency, robots off."""
    from scrapy.crawler import CrawlerProcess
    from scrapy.linkextractors import LinkExtractor
    from scrapy.spiders import CrawlSpider, Rule

    # Scrapy never filters its start URLs, so a seed linked from another page is fetched twice:
    # count pages, not responses, as the other contenders do.
    pages_seen: dict[str, set[str]] = {"ok": set(), "failed": set()}

    class SiteSpider(CrawlSpider):  # type: ignore[misc,unused-ignore]  # Any where not installed
        name = "site"
        start_urls = seeds.split()
        rules = (Rule(LinkExtractor(allow=SITE_PREFIX), callback="parse_page", follow=True),)

        def parse_start_url(self, response: Any, **kwargs: Any) -> Any:
            return self.parse_page(response)

        def parse_page(self, response: Any) -> None:
            pages_seen["ok" if response.status == 200 else "failed"].add(response.url)

    process = CrawlerProcess(settings=scrapy_settings(concurrency))
    process.crawl(SiteSpider)
    with contextlib.suppress(KeyboardInterrupt):
        process.start()
    return len(pages_seen["ok"]), len(pages_seen["failed"])


CRAWL_CONTENDERS = (
    "crawl-aiohttp",
    "crawl-corocrawl-aiohttp",
    "crawl-corocrawl-curl",
    "crawl-scrapy",
    *(f"crawl-corocrawl-workers-{count}" for count in WORKER_COUNTS),
    "crawl-corocrawl-curl-unguarded",
    "crawl-corocrawl-curl-warc",
    "crawl-corocrawl-curl-extract-text",
    "crawl-corocrawl-curl-extract-meta",
)


def _no_traps() -> Any:
    import corocrawl

    return corocrawl.Traps(
        max_url_length=None, max_segment_repeats=None, max_path_segments=None,
        max_queries_per_path=None, max_urls_per_template=None, strip_session_ids=False,
    )  # fmt: skip


def scrapy_settings(concurrency: int) -> dict[str, object]:
    """Scrapy set up like the other contenders: the same concurrency, no delay, no robots,
    retries or cookies, and quiet."""
    return {
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": False,
        "RETRY_ENABLED": False,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "ERROR",
    }
