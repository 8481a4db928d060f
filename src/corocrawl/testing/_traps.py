"""A small site full of crawl traps, under /trap/: real pages a crawl must reach, and URL
spaces that never end, each of the kind one guard is for.

- /trap/                       the index: every real page and every trap
- /trap/page/N                 the real pages, N < TRAP_PAGES
- /trap/calendar/Y/M           an infinite calendar: next and previous month, forever
- /trap/loop/...               links to itself with a growing path: again/ (a repeated
                               segment) and deeperN/ (a path ever deeper)
- /trap/long/X                 links to /trap/long/XX: a URL that doubles in length
- /trap/shop?facets            a facet explosion: every facet value added to the query
- /trap/session?sid=TOKEN      the same page under ever new session ids (32 hex digits)
"""

from __future__ import annotations

from urllib.parse import urlencode

__all__ = ["TRAP_PAGES", "render_trap_page"]

TRAP_PAGES = 10
_FACETS = {
    "color": ("red", "green", "blue", "black"),
    "size": ("s", "m", "l", "xl"),
    "sort": ("price", "name", "new"),
}


def render_trap_page(path: str, query: dict[str, str]) -> str | None:
    """The HTML of a page under /trap/ (`path` without that prefix), or None for a 404."""
    parts = [part for part in path.split("/") if part]
    kind = parts[0] if parts else ""
    if kind == "":
        links = [f"/trap/page/{number}" for number in range(TRAP_PAGES)]
        links += ["/trap/calendar/2026/11", "/trap/loop/", "/trap/long/x", "/trap/shop",
                  f"/trap/session?sid={1:032x}"]  # fmt: skip
        return _page("traps", links)
    if kind == "page" and len(parts) == 2 and parts[1].isdigit():
        number = int(parts[1])
        if number >= TRAP_PAGES:
            return None
        return _page(f"real page {number}", ["/trap/", f"/trap/page/{(number + 1) % TRAP_PAGES}"])
    if kind == "calendar" and len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        year, month = int(parts[1]), int(parts[2])
        after = (year + month // 12, month % 12 + 1)
        before = (year - (month == 1), (month - 2) % 12 + 1)
        return _page(
            f"{year}-{month:02}",
            [f"/trap/calendar/{after[0]}/{after[1]}", f"/trap/calendar/{before[0]}/{before[1]}"],
        )
    if kind == "loop":
        return _page("loop", ["again/", f"deeper{len(parts)}/", "/trap/page/1"])
    if kind == "long" and len(parts) == 2:
        return _page("long", [f"/trap/long/{parts[1] * 2}"])
    if kind == "shop" and len(parts) == 1:
        links = [
            "/trap/shop?" + urlencode(sorted({**query, facet: value}.items()))
            for facet, values in _FACETS.items()
            for value in values
        ]
        return _page("shop", [*links, "/trap/page/2"])
    if kind == "session" and len(parts) == 1:
        try:
            sid = int(query.get("sid", "0"), 16)
        except ValueError:
            sid = 0
        return _page("session", [f"/trap/session?sid={sid + 1:032x}", "/trap/page/3"])
    return None


def _page(title: str, links: list[str]) -> str:
    items = "".join(f'<li><a href="{link}">{link}</a></li>\n' for link in links)
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n"
        f"<body><ul>\n{items}</ul></body></html>\n"
    )
