"""Clients under test, each run alone in a fresh process: `python -m corocrawl._bench._contenders`.

Each fetches N distinct URLs (URL?n=0, URL?n=1, ...: a list as users have, never one URL
repeated, which flatters every client's caches) at a fixed concurrency and prints one JSON line:
the wall time of the fetching itself and the CPU time it took (interpreter start and imports
excluded from both), how many answers were 200 and how many not, and the process's peak
resident memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import resource
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

from corocrawl._bench._crawl_contenders import (
    WORKER_COUNTS,
    crawl_aiohttp,
    crawl_corocrawl,
    crawl_scrapy,
    scrapy_settings,
)
from corocrawl._config import EXTRACTS
from corocrawl._loop import run
from corocrawl._system import ensure_open_files

Contender = Callable[[str, int, int], tuple[int, int]]

AsyncContender = Callable[[str, int, int], Coroutine[Any, Any, tuple[int, int]]]


def distinct(url: str, requests: int) -> list[str]:
    """`requests` distinct URLs of one endpoint (the query is ignored by the servers here)."""
    joiner = "&" if "?" in url else "?"
    return [f"{url}{joiner}n={number}" for number in range(requests)]


async def raw_aiohttp(url: str, requests: int, concurrency: int) -> tuple[int, int]:
    """The minimal hand-written loop: one session, a semaphore, no features."""
    import aiohttp

    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(target: str) -> bool:
            async with limit:
                try:
                    async with session.get(target) as response:
                        await response.read()
                        return response.status == 200
                except (TimeoutError, aiohttp.ClientError, OSError):
                    return False

        outcomes = await asyncio.gather(*(one(target) for target in distinct(url, requests)))
    ok = sum(outcomes)
    return ok, requests - ok


async def corocrawl_engine(
    url: str, requests: int, concurrency: int, *, transport: str, per_ip: bool = False
) -> tuple[int, int]:
    """corocrawl's engine through its public API on `transport`, every feature on and default
    limits; with `per_ip`, a per-IP limit as high as the concurrency (its cost, not its
    effect)."""
    import corocrawl

    limits = corocrawl.Limits(concurrency=concurrency, per_ip=concurrency if per_ip else None)
    config = corocrawl.FetchConfig(limits=limits, transport=transport)
    ok = 0
    async with contextlib.aclosing(corocrawl.fetch(distinct(url, requests), config)) as results:
        async for result in results:
            ok += result.status == 200
    return ok, requests - ok


async def httpx_client(url: str, requests: int, concurrency: int) -> tuple[int, int]:
    """httpx.AsyncClient, the same shape as the raw aiohttp loop."""
    import httpx

    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(target: str) -> bool:
            async with limit:
                try:
                    response = await client.get(target)
                except httpx.HTTPError:
                    return False
                return response.status_code == 200

        outcomes = await asyncio.gather(*(one(target) for target in distinct(url, requests)))
    ok = sum(outcomes)
    return ok, requests - ok


def scrapy_spider(url: str, requests: int, concurrency: int) -> tuple[int, int]:
    """A minimal Scrapy spider with the same concurrency, retries, robots and cookies off."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    counts = {"ok": 0, "failed": 0}

    class Bench(scrapy.Spider):  # type: ignore[misc,unused-ignore]  # Any where not installed
        name = "bench"

        async def start(self) -> Any:
            for target in distinct(url, requests):
                yield scrapy.Request(target, dont_filter=True, errback=self.failed)

        def parse(self, response: Any) -> None:
            counts["ok" if response.status == 200 else "failed"] += 1

        def failed(self, failure: Any) -> None:
            counts["failed"] += 1

    process = CrawlerProcess(settings=scrapy_settings(concurrency))
    process.crawl(Bench)
    process.start()
    return counts["ok"], counts["failed"]


def _on_event_loop(contender: AsyncContender) -> Contender:
    def run_it(url: str, requests: int, concurrency: int) -> tuple[int, int]:
        return run(contender(url, requests, concurrency))

    return run_it


# The library each peer needs; the suites report a missing one with an install hint.
REQUIRES = {"httpx": "httpx", "scrapy": "scrapy", "crawl-scrapy": "scrapy"}

CONTENDERS: dict[str, Contender] = {
    "aiohttp": _on_event_loop(raw_aiohttp),
    "corocrawl-aiohttp": _on_event_loop(functools.partial(corocrawl_engine, transport="aiohttp")),
    "corocrawl-curl": _on_event_loop(functools.partial(corocrawl_engine, transport="curl")),
    "corocrawl-curl-per-ip": _on_event_loop(
        functools.partial(corocrawl_engine, transport="curl", per_ip=True)
    ),
    "httpx": _on_event_loop(httpx_client),
    "scrapy": scrapy_spider,
    "crawl-aiohttp": _on_event_loop(crawl_aiohttp),
    "crawl-corocrawl-aiohttp": _on_event_loop(
        functools.partial(crawl_corocrawl, transport="aiohttp")
    ),
    "crawl-corocrawl-curl": _on_event_loop(functools.partial(crawl_corocrawl, transport="curl")),
    "crawl-scrapy": crawl_scrapy,
    **{
        f"crawl-corocrawl-workers-{count}": _on_event_loop(
            functools.partial(crawl_corocrawl, workers=count)
        )
        for count in WORKER_COUNTS
    },
    "crawl-corocrawl-curl-unguarded": _on_event_loop(
        functools.partial(crawl_corocrawl, transport="curl", guarded=False)
    ),
    "crawl-corocrawl-curl-warc": _on_event_loop(
        functools.partial(crawl_corocrawl, transport="curl", warc=True)
    ),
    **{
        f"crawl-corocrawl-curl-extract-{kind}": _on_event_loop(
            functools.partial(crawl_corocrawl, transport="curl", extract=(kind,))
        )
        for kind in EXTRACTS
    },
}


def main(argv: list[str] | None = None) -> None:
    """`python -m corocrawl._bench._contenders CONTENDER URL REQUESTS CONCURRENCY`, as the
    suites run it (see _measure): one JSON line of figures on stdout."""
    name, url, requests_text, concurrency_text = sys.argv[1:] if argv is None else argv
    contender, requests, concurrency = CONTENDERS[name], int(requests_text), int(concurrency_text)

    ensure_open_files(concurrency)
    start, cpu_start, workers_start = time.perf_counter(), time.process_time(), _children_cpu()
    try:
        ok, failed = contender(url, requests, concurrency)
    except ImportError as exc:
        sys.stdout.write(orjson.dumps({"unavailable": exc.name or str(exc)}).decode() + "\n")
        return
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    worker_cpu = _children_cpu() - workers_start  # worker processes, counted once they exit
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {
        "wall": wall,
        "ok": ok,
        "failed": failed,
        "cpu": cpu + worker_cpu,
        "worker_cpu": worker_cpu,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }
    sys.stdout.write(orjson.dumps(report).decode() + "\n")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
