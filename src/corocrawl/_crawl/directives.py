"""Robots directives inside pages: `<meta name="robots">` and the X-Robots-Tag header, and the
canonical URLs a crawl has fetched (for `canonical_dedupe`)."""

from __future__ import annotations

from .._urls import fingerprint

__all__ = ["FetchedCanonicals", "robots_directives"]

# Directives that take a value after a colon: "unavailable_after: 2026-12-31" is one, not a
# user agent's name before its own directives ("otherbot: noindex").
_VALUED = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
_MAX_CANONICALS = 1_000_000


def robots_directives(*values: str | None) -> frozenset[str]:
    """The directives of meta robots contents and X-Robots-Tag values, lower case; `none`
    stands for `noindex` and `nofollow`. A directive for a named user agent ("otherbot:
    noindex") is for that crawler, not for this one."""
    directives: set[str] = set()
    for value in values:
        for token in (value or "").lower().split(","):
            name, colon, _ = token.partition(":")
            name = name.strip()
            if colon and name not in _VALUED:
                continue  # another crawler's
            if name == "none":
                directives.update(("noindex", "nofollow"))
            elif name:
                directives.add(name)
    return frozenset(directives)


class FetchedCanonicals:
    """The pages fetched so far, by what each is a copy of (its canonical URL, else itself):
    a page whose canonical is already among them is a duplicate. Bounded: past a million, the
    oldest are forgotten."""

    def __init__(self, limit: int = _MAX_CANONICALS) -> None:
        self._limit = limit
        self._seen: dict[bytes, None] = {}

    def duplicate(self, url: str, canonical: str | None) -> bool:
        """Note the page at `url`; True if its canonical (a different URL) was fetched before,
        or is itself a page noted before."""
        seen = self._seen
        own = fingerprint(url)
        target = None if canonical is None or canonical == url else fingerprint(canonical)
        duplicate = target is not None and target in seen
        for key in (own, target):
            if key is not None and key not in seen:
                if len(seen) >= self._limit:
                    del seen[next(iter(seen))]
                seen[key] = None
        return duplicate
