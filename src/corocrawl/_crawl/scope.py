"""Which discovered URLs a crawl follows, and the reason it gives for each one it does not."""

from __future__ import annotations

import re
from collections.abc import Iterable

from yarl import URL

from .._config import Scope, Traps
from .._models import SkipReason
from .._urls import host_key
from .traps import shape_trap

__all__ = ["ScopeRules"]


class ScopeRules:
    """A Scope applied to the hosts of a crawl's seeds, and the trap guards that judge a URL
    by its shape."""

    def __init__(
        self, scope: Scope, seed_hosts: Iterable[str] = (), traps: Traps | None = None
    ) -> None:
        self.scope = scope
        self._traps = Traps() if traps is None else traps
        self._hosts = {host.lower() for host in seed_hosts}
        self._domains = tuple(domain.lower().lstrip(".") for domain in scope.allow_domains)
        self._include = [re.compile(pattern) for pattern in scope.include]
        self._exclude = [re.compile(pattern) for pattern in scope.exclude]

    def add_seed_host(self, host: str) -> None:
        self._hosts.add(host.lower())

    def skip_reason(
        self, url: URL, canonical: str, depth: int, host_depth: int = 0
    ) -> SkipReason | None:
        """None when the URL is to be fetched at `depth` (`host_depth` within its host), else
        why not."""
        if not self._on_site(host_key(url)):
            return SkipReason.OFFSITE
        if self._include and not any(rule.search(canonical) for rule in self._include):
            return SkipReason.EXCLUDED
        if any(rule.search(canonical) for rule in self._exclude):
            return SkipReason.EXCLUDED
        if self.scope.max_depth is not None and depth > self.scope.max_depth:
            return SkipReason.DEPTH
        limit = self.scope.max_depth_per_host
        if limit is not None and host_depth > limit:
            return SkipReason.BUDGET
        return shape_trap(url, canonical, self._traps)

    def _on_site(self, host: str) -> bool:
        if host in self._hosts:
            return True
        return any(host == domain or host.endswith("." + domain) for domain in self._domains)
