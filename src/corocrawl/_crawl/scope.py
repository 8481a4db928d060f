"""Which discovered URLs a crawl follows, and the reason it gives for each one it does not."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from yarl import URL

from .._config import _require
from .._exceptions import ConfigError
from .._urls import host_key

__all__ = ["Scope", "ScopeRules", "SkipReason"]


class SkipReason:
    """Why a URL gets a record but no fetch. Plain strings, as they appear in the output."""

    ROBOTS = "robots"
    OFFSITE = "offsite"
    EXCLUDED = "excluded"
    DEPTH = "depth"
    MAX_PAGES = "max-pages"


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of the web a crawl may fetch.

    By default only the seeds' own hosts. `allow_domains` adds domains with their subdomains
    ("example.com" allows www.example.com too). `include` / `exclude` are regular expressions
    searched in the canonical URL: with any `include`, one must match; no `exclude` may.

        Scope(allow_domains=("example.com",), exclude=(r"/login",), max_depth=3)
    """

    allow_domains: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_depth: int | None = None
    max_pages: int | None = None

    def __post_init__(self) -> None:
        _require(self.max_depth is None or self.max_depth >= 0,
                 f"max depth must be >= 0, got {self.max_depth}")  # fmt: skip
        _require(self.max_pages is None or self.max_pages >= 1,
                 f"max pages must be >= 1, got {self.max_pages}")  # fmt: skip
        for pattern in (*self.include, *self.exclude):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"bad regular expression {pattern!r}: {exc}") from None


class ScopeRules:
    """A Scope applied to the hosts of a crawl's seeds."""

    def __init__(self, scope: Scope, seed_hosts: Iterable[str] = ()) -> None:
        self.scope = scope
        self._hosts = {host.lower() for host in seed_hosts}
        self._domains = tuple(domain.lower().lstrip(".") for domain in scope.allow_domains)
        self._include = [re.compile(pattern) for pattern in scope.include]
        self._exclude = [re.compile(pattern) for pattern in scope.exclude]

    def add_seed_host(self, host: str) -> None:
        self._hosts.add(host.lower())

    def skip_reason(self, url: URL, canonical: str, depth: int) -> str | None:
        """None when the URL is to be fetched at `depth`, else why not."""
        if not self._on_site(host_key(url)):
            return SkipReason.OFFSITE
        if self._include and not any(rule.search(canonical) for rule in self._include):
            return SkipReason.EXCLUDED
        if any(rule.search(canonical) for rule in self._exclude):
            return SkipReason.EXCLUDED
        if self.scope.max_depth is not None and depth > self.scope.max_depth:
            return SkipReason.DEPTH
        return None

    def _on_site(self, host: str) -> bool:
        if host in self._hosts:
            return True
        return any(host == domain or host.endswith("." + domain) for domain in self._domains)
