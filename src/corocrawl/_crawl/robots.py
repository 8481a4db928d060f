"""robots.txt per origin, fetched once and cached, read as RFC 9309 says.

A 2xx answer is parsed (up to a size cap); a 4xx means no rules, so everything is allowed. A
5xx or no answer at all means the site may be in trouble: its URLs wait, and robots.txt is
asked for again, a bounded number of times with a growing pause. If it still fails, the
origin is unavailable for a while (its URLs are recorded as skipped, with the error), so that
a crawl of a site that is down ends instead of waiting for ever. Crawl-delay is honoured up to
a cap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from protego import Protego
from yarl import URL

from .._engine.transport import Transport
from .._exceptions import BlockedURL, FetchError, TLSError
from .._models import Exchange

__all__ = ["RobotsCache", "RobotsVerdict"]

logger = logging.getLogger("corocrawl")

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
UNAVAILABLE_FOR = 300.0  # after its last try failed, an origin's URLs are skipped this long


@dataclass(frozen=True, slots=True)
class RobotsVerdict:
    """`retry_in`: robots.txt is failing but not given up on; ask again in that many seconds.
    `unavailable`: it failed every try; why (the URL is not to be fetched for now)."""

    allowed: bool
    crawl_delay: float | None = None
    retry_in: float | None = None
    unavailable: str | None = None


@dataclass(slots=True)
class _Rules:
    parser: Protego | None  # None: allow all (4xx)
    expires: float
    failures: int = 0  # tries in a row that got no usable answer (5xx or none)
    error: str = ""  # the last failure's
    sitemaps_taken: bool = False


class RobotsCache:
    """Answers "may this URL be fetched?" for one user agent, fetching each robots.txt once
    (concurrent askers share the one fetch) and keeping at most `max_origins` of them, each
    read up to 500 KiB. A failing robots.txt is tried `tries` times, `retry` seconds after the
    first failure and twice as long after each next one."""

    def __init__(
        self,
        transport: Transport,
        user_agent: str,
        *,
        max_origins: int = 2_000,
        crawl_delay_cap: float = 30.0,
        ttl: float = 24 * 3600.0,
        retry: float = 5.0,
        tries: int = 3,
    ) -> None:
        self._transport = transport
        self._agent = user_agent
        self._max_origins = max_origins
        self._crawl_delay_cap = crawl_delay_cap
        self._ttl = ttl
        self._retry = retry
        self._tries = tries
        self._rules: OrderedDict[str, _Rules] = OrderedDict()
        self._fetching: dict[str, asyncio.Future[_Rules]] = {}
        self._exchanges: list[Exchange] = []  # robots.txt as fetched, for an archive

    def take_exchanges(self) -> tuple[Exchange, ...]:
        """The exchanges of the robots.txt fetched since the last call (with a transport that
        keeps them, for an archive): each is handed out once."""
        taken, self._exchanges = tuple(self._exchanges), []
        return taken

    async def verdict(self, url: URL) -> RobotsVerdict:
        return self._verdict(await self._rules_for(url.origin()), url)

    def known_verdict(self, url: URL) -> RobotsVerdict | None:
        """The verdict if this origin's robots.txt is at hand (None if it must be fetched)."""
        rules = self._rules.get(str(url.origin()))
        if rules is None or rules.expires <= time.monotonic():
            return None
        return self._verdict(rules, url)

    def take_sitemaps(self, url: URL) -> list[URL] | None:
        """The sitemaps the robots.txt of this URL's origin names ([] if none), the first
        time they are asked for since it was fetched; None after that, and while it is not
        at hand."""
        rules = self._rules.get(str(url.origin()))
        if rules is None or rules.failures or rules.sitemaps_taken:
            return None
        rules.sitemaps_taken = True
        if rules.parser is None:
            return []
        sitemaps = []
        for text in rules.parser.sitemaps:
            try:
                sitemaps.append(url.origin().join(URL(text.strip())))
            except ValueError:
                continue
        return sitemaps

    def _verdict(self, rules: _Rules, url: URL) -> RobotsVerdict:
        if rules.failures >= self._tries:
            return RobotsVerdict(allowed=False, unavailable=rules.error)
        if rules.failures:
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
        failed_before = rules.failures if rules is not None and rules.failures < self._tries else 0
        future: asyncio.Future[_Rules] = asyncio.get_running_loop().create_future()
        self._fetching[key] = future
        try:
            rules = await self._fetch(origin, failed_before)
            future.set_result(rules)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unshared failure is not logged
            raise
        finally:
            del self._fetching[key]
        self._rules[key] = rules
        self._rules.move_to_end(key)
        if len(self._rules) > self._max_origins:
            self._rules.popitem(last=False)
        return rules

    async def _fetch(self, origin: URL, failed_before: int) -> _Rules:
        now = time.monotonic()
        try:
            # RFC 9309 2.3.1.2: follow its redirects (to another host too); the rules found at
            # the end are this origin's. The transport bounds the hops (max_redirects).
            response = await self._transport.fetch(
                origin / "robots.txt",
                max_bytes=ROBOTS_MAX_BYTES,
                truncate=True,
                follow_redirects=True,
            )
        except BlockedURL:
            # Refused by corocrawl itself (--refuse-private), not failing: nothing to wait
            # for. The URL is then refused too, and recorded so at once.
            return _Rules(None, expires=now + self._ttl)
        except FetchError as exc:
            if isinstance(exc, TLSError) and exc.certificate:
                # The site's certificate is refused, and will be for its every URL: nothing to
                # wait for. Its URLs are fetched, and each recorded with that TLSError at once.
                logger.warning(
                    "robots.txt of %s: TLSError: %s; its URLs fail the same way (a private CA "
                    "is trusted with --ca-bundle)", origin, exc,
                )  # fmt: skip
                return _Rules(None, expires=now + self._ttl)
            return self._failed(origin, failed_before, f"{type(exc).__name__}: {exc}", now)
        self._exchanges.extend(response.exchanges)
        if response.status >= 500:
            return self._failed(origin, failed_before, f"status {response.status}", now)
        if response.status >= 400 or response.body is None:
            logger.info("robots.txt of %s: status %d, so no rules", origin, response.status)
            return _Rules(None, expires=now + self._ttl)
        text = response.body.decode("utf-8", errors="replace")
        logger.info("robots.txt of %s: %d bytes of rules", origin, len(response.body))
        return _Rules(Protego.parse(text), expires=now + self._ttl)

    def _failed(self, origin: URL, failed_before: int, error: str, now: float) -> _Rules:
        failures = failed_before + 1
        reason = f"robots.txt of {origin} failed {failures} time(s): {error}"
        if failures >= self._tries:
            logger.warning("%s; its URLs are skipped (robots-unavailable) for now", reason)
            return _Rules(None, expires=now + UNAVAILABLE_FOR, failures=failures, error=reason)
        wait = self._retry * 2 ** (failures - 1)
        logger.warning("%s; its URLs wait, asked again in %gs", reason, wait)
        return _Rules(None, expires=now + wait, failures=failures, error=reason)
