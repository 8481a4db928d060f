"""Proxies taken in turn, one per request; a proxy that keeps failing is rested a while."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .._config import shown_proxy

__all__ = ["PROXY_AUTHENTICATION_REQUIRED", "Proxy", "ProxyRotation"]

logger = logging.getLogger("corocrawl")

# Only a proxy answers 407: through one, it is the proxy refusing, whatever the URL.
PROXY_AUTHENTICATION_REQUIRED = 407
REST_AFTER = 3  # failures in a row
REST_FOR = 60.0  # seconds, doubled each time the same proxy is rested again, up to 15 minutes
_REST_MAX = 900.0


@dataclass(slots=True)
class Proxy:
    """One proxy: `url` as given (credentials included, for the transport only), `shown` as
    it may be printed."""

    url: str = field(repr=False)  # holds the password
    shown: str
    failures_in_a_row: int = 0
    rests: int = 0
    resting_until: float = 0.0
    scheme: str = field(init=False)

    def __post_init__(self) -> None:
        self.scheme = self.url.split("://", 1)[0]


class ProxyRotation:
    """Round robin over the proxies that are not resting; when all are, the one whose rest
    ends first (a crawl never stalls on its proxies). A lone proxy is never rested."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.proxies = [Proxy(url, shown_proxy(url)) for url in urls]
        self._next = 0

    def choose(self) -> Proxy:
        now = time.monotonic()
        count = len(self.proxies)
        for step in range(count):
            proxy = self.proxies[(self._next + step) % count]
            if proxy.resting_until <= now:
                self._next = (self._next + step + 1) % count
                return proxy
        return min(self.proxies, key=lambda proxy: proxy.resting_until)

    def succeeded(self, proxy: Proxy) -> None:
        proxy.failures_in_a_row = 0

    def failed(self, proxy: Proxy) -> None:
        if proxy.resting_until > time.monotonic():
            return  # requests sent before the rest began, failing now: counted once already
        proxy.failures_in_a_row += 1
        if proxy.failures_in_a_row < REST_AFTER or len(self.proxies) == 1:
            return  # a lone proxy has nobody to take its turns: it is not rested
        seconds = min(REST_FOR * 2**proxy.rests, _REST_MAX)
        proxy.rests += 1
        proxy.failures_in_a_row = 0
        proxy.resting_until = time.monotonic() + seconds
        logger.warning(
            "proxy %s failed %d times in a row: resting it %gs", proxy.shown, REST_AFTER, seconds
        )
