"""Listing a site's sitemap URLs without crawling it: what `corocrawl sitemap` runs.

From a site (its robots.txt's Sitemap lines, else /sitemap.xml) or from one sitemap, every
sitemap an index leads to is read, level by level, each with the fetch's retries, timeouts and
politeness; the URLs they list are handed over as they are read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from yarl import URL

from .._config import FetchConfig
from .._engine.engine import Engine
from .._engine.transports import open_transport
from .._models import FetchResult, Request
from .._stats import Stats
from .._urls import fetchable_url
from .robots import RobotsCache
from .sitemaps import SITEMAP_MAX_BYTES, SitemapContent, SitemapEntry, read_sitemap

__all__ = ["SitemapRead", "site_sitemaps", "walk_sitemaps"]

MAX_SITEMAPS = 50_000  # read in one walk: as many as one index may list


@dataclass(frozen=True, slots=True)
class SitemapRead:
    """One sitemap fetched: its `result`, and what it held when it could be read."""

    url: str
    level: int
    result: FetchResult
    content: SitemapContent | None
    too_deep: int = 0  # sitemaps it lists past the nesting allowed, not read
    not_read: int = 0  # sitemaps it lists past MAX_SITEMAPS, not read


async def site_sitemaps(site: URL, config: FetchConfig) -> list[URL]:
    """The sitemaps the robots.txt of `site`'s origin names, else its /sitemap.xml."""
    async with open_transport(config) as transport:
        robots = RobotsCache(transport, config.user_agent, tries=1)
        await robots.verdict(site)
        named = robots.take_sitemaps(site)
    return named or [site.origin() / "sitemap.xml"]


async def walk_sitemaps(
    start: str,
    config: FetchConfig,
    *,
    on_url: Callable[[SitemapEntry, str], None],
    on_sitemap: Callable[[SitemapRead], None],
    since: datetime | None = None,
    nesting: int = 3,
    stats: Stats | None = None,
) -> None:
    """Read the sitemaps of the site `start` (a URL with no path), or `start` itself and the
    sitemaps it leads to, `nesting` levels deep. `on_url(entry, sitemap)` gets each URL
    listed; `on_sitemap` each sitemap read. ValueError if `start` is no http(s) URL."""
    url = fetchable_url(start)
    config = replace(config, keep_body=True, follow_redirects=True)
    wave = await site_sitemaps(url, config) if url.path in ("", "/") else [url]
    seen = {str(one) for one in wave}
    found: list[URL] = []  # the next level's sitemaps
    level = 1

    async def read(result: FetchResult) -> None:
        content = None
        too_deep = not_read = 0
        if result.ok and result.body is not None:
            content = await asyncio.to_thread(
                read_sitemap, result.body, URL(result.final_url or result.url), since=since
            )
            for entry in content.pages:
                on_url(entry, result.url)
            for entry in content.sitemaps:
                if entry.url in seen:
                    continue  # an index cycle, or a sitemap listed twice
                if level >= nesting:
                    too_deep += 1
                elif len(seen) >= MAX_SITEMAPS:
                    not_read += 1
                else:
                    seen.add(entry.url)
                    found.append(URL(entry.url, encoded=True))
        on_sitemap(SitemapRead(result.url, level, result, content, too_deep, not_read))

    while wave:
        found = []
        await Engine(config, stats=stats).run(_requests(wave, level), read)
        wave, level = found, level + 1


async def _requests(urls: Iterable[URL], level: int) -> AsyncIterator[Request]:
    for position, url in enumerate(urls):
        yield Request(str(url), position, sitemap=level, max_bytes=SITEMAP_MAX_BYTES)
