"""robots.txt per origin, fetched once and cached, read as RFC 9309 says.

A 2xx answer is parsed (up to a size cap); a 4xx means no rules, so everything is allowed; a
5xx or no answer at all means the site may be in trouble, so everything is disallowed for now
and asked again later. Crawl-delay is honoured up to a cap.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

from protego import Protego
from yarl import URL

from .._engine.transport import Transport
from .._exceptions import FetchError

__all__ = ["RobotsCache", "RobotsVerdict"]

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
UNREACHABLE_RETRY_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class RobotsVerdict:
    """`retry_in` is set when robots.txt could not be had (5xx, unreachable): the URL is not
    refused for good, only to be asked about again in that many seconds."""

    allowed: bool
    crawl_delay: float | None = None
    retry_in: float | None = None


@dataclass(slots=True)
class _Rules:
    parser: Protego | None  # None: allow all (4xx)
    disallow_all: bool  # 5xx or unreachable
    expires: float


class RobotsCache:
    """Answers "may this URL be fetched?" for one user agent, fetching each robots.txt once
    (concurrent askers share the one fetch) and keeping at most `max_origins` of them, each
    read up to 500 KiB."""

    def __init__(
        self,
        transport: Transport,
        user_agent: str,
        *,
        max_origins: int = 2_000,
        crawl_delay_cap: float = 30.0,
        ttl: float = 24 * 3600.0,
        unreachable_retry: float = UNREACHABLE_RETRY_SECONDS,
    ) -> None:
        self._unreachable_retry = unreachable_retry
        self._transport = transport
        self._agent = user_agent
        self._max_origins = max_origins
        self._crawl_delay_cap = crawl_delay_cap
        self._ttl = ttl
        self._rules: OrderedDict[str, _Rules] = OrderedDict()
        self._fetching: dict[str, asyncio.Future[_Rules]] = {}

    async def verdict(self, url: URL) -> RobotsVerdict:
        rules = await self._rules_for(url.origin())
        if rules.disallow_all:
            return RobotsVerdict(allowed=False, retry_in=max(0.0, rules.expires - time.monotonic()))
        if rules.parser is None:
            return RobotsVerdict(allowed=True)
        allowed = rules.parser.can_fetch(str(url), self._agent)
        delay = rules.parser.crawl_delay(self._agent)
        if delay is not None:
            delay = min(float(delay), self._crawl_delay_cap)
        return RobotsVerdict(allowed=allowed, crawl_delay=delay)

    async def _rules_for(self, origin: URL) -> _Rules:
        key = str(origin)
        rules = self._rules.get(key)
        if rules is not None and rules.expires > time.monotonic():
            self._rules.move_to_end(key)
            return rules
        pending = self._fetching.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Rules] = asyncio.get_running_loop().create_future()
        self._fetching[key] = future
        try:
            rules = await self._fetch(origin)
            future.set_result(rules)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unshared failure is not logged
            raise
        finally:
            del self._fetching[key]
        self._rules[key] = rules
        if len(self._rules) > self._max_origins:
            self._rules.popitem(last=False)
        return rules

    async def _fetch(self, origin: URL) -> _Rules:
        now = time.monotonic()
        unreachable = _Rules(None, disallow_all=True, expires=now + self._unreachable_retry)
        try:
            response = await self._transport.fetch(
                origin / "robots.txt", max_bytes=ROBOTS_MAX_BYTES, truncate=True
            )
        except FetchError:
            return unreachable
        if response.status >= 500:
            return unreachable
        if response.status >= 400 or response.body is None:
            return _Rules(None, disallow_all=False, expires=now + self._ttl)
        text = response.body.decode("utf-8", errors="replace")
        return _Rules(Protego.parse(text), disallow_all=False, expires=now + self._ttl)
