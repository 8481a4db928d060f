"""A deterministic synthetic web site: pages /site/0 .. /site/{pages-1} that link to each other.

The link graph is a complete tree rooted at page 0 (so every page is reachable and BFS depth is
well-defined) plus pseudo-random extra links, which give the duplicates a real site has.
"""

from __future__ import annotations

import functools

_MASK64 = (1 << 64) - 1
_FILLER_WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua "
)


def _mix64(value: int) -> int:
    """SplitMix64 finaliser: a cheap, well-spread integer hash that is the same on every run."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def site_links(page: int, pages: int, links_per_page: int) -> list[int]:
    """Return the page numbers that page `page` links to, in document order.

    The first links are the tree children ``page*L+1 .. page*L+L`` that exist; the remaining
    slots up to ``links_per_page`` hold pseudo-random pages derived from ``(page, slot)``.
    """
    if pages < 1:
        raise ValueError(f"pages must be >= 1, got {pages}")
    if links_per_page < 0:
        raise ValueError(f"links_per_page must be >= 0, got {links_per_page}")
    if not 0 <= page < pages:
        raise ValueError(f"page must be in [0, {pages}), got {page}")
    first_child = page * links_per_page + 1
    children = list(range(first_child, min(first_child + links_per_page, pages)))
    extras = [
        _mix64(page * 1_000_003 + slot) % pages for slot in range(len(children), links_per_page)
    ]
    return children + extras


@functools.lru_cache(maxsize=8)  # one entry per page size in use, normally just one
def _filler(length: int) -> str:
    """ASCII filler text of exactly `length` characters (cached: pages are served at high rates)."""
    repeats = length // len(_FILLER_WORDS) + 1
    return (_FILLER_WORDS * repeats)[:length]


def render_site_page(page: int, pages: int, links_per_page: int, page_bytes: int) -> str:
    """The HTML of one site page, padded with filler text to about `page_bytes` bytes."""
    links = "".join(
        f'<li><a href="/site/{target}">page {target}</a></li>\n'
        for target in site_links(page, pages, links_per_page)
    )
    # What a browser needs besides the page: a stylesheet that is there, an image that is not.
    head = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f'<title>Page {page}</title><link rel="stylesheet" href="/site/style.css"></head>\n'
        f'<body><h1>Page {page}</h1><img src="/site/logo.png" alt="">\n<ul>\n{links}</ul>\n<p>'
    )
    tail = "</p>\n</body></html>\n"
    padding_length = max(0, page_bytes - len(head) - len(tail))
    return head + _filler(page_bytes)[:padding_length] + tail
