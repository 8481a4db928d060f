"""A crawl's job for worker processes: fetch, parse and scope pages where they are fetched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._config import CrawlConfig
from .._models import ErrorInfo, FetchResult, Request, Visit
from .._workers.jobs import pack_result, unpack_result
from ..frontier import Discovered
from .pages import Handler, PageProcessor, ProcessedPage

__all__ = ["CrawlJob"]


@dataclass(frozen=True, slots=True)
class CrawlJob:
    """`corocrawl crawl`: each request gives a ProcessedPage (record, links, items)."""

    config: CrawlConfig
    seed_hosts: tuple[str, ...]
    handler: Handler | None = None

    def executor(self, concurrency: int) -> PageProcessor:
        config = self.config.with_concurrency(concurrency)
        return PageProcessor(config, seed_hosts=self.seed_hosts, handler=self.handler)

    def pack(self, payload: ProcessedPage) -> tuple[Any, ...]:
        # Discovered is a named tuple: sent as a plain tuple, it pickles without its class.
        links = [tuple(link) for link in payload.links]
        # The body stays here: it is parsed already.
        result = pack_result(payload.result, body=False)
        visit = None if payload.visit is None else tuple(payload.visit)
        return (result, payload.record, links, payload.items, visit, payload.robots)

    def unpack(self, packed: tuple[Any, ...], request: Request) -> ProcessedPage:
        result, record, links, items, visit, robots = packed
        discovered = [Discovered._make(link) for link in links]
        return ProcessedPage(unpack_result(result, request), record, discovered, items,
                             None if visit is None else Visit._make(visit), robots)  # fmt: skip

    def result_of(self, payload: ProcessedPage) -> FetchResult:
        return payload.result

    def failure(self, request: Request, error: ErrorInfo) -> ProcessedPage:
        result = FetchResult(request.url, request.position, error=error, request=request)
        return ProcessedPage.unfetched(result)

    def size_of(self, payload: ProcessedPage) -> int:
        return 1 + len(payload.links)
