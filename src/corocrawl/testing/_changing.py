"""A site whose pages change on a known schedule, for recrawls, under /changing/.

The site has a generation, 0 when the server starts, one more with each `POST /changing/next`
(`GET /changing/generation` tells it). Page N changes every `period(N)` generations (every
one, every second one, or never, as N % 3 is 0, 1 or 2) and carries validators as N % 4 is
0 (ETag and Last-Modified), 1 (Last-Modified only), 2 (ETag only) or 3 (none: a recrawl can
only compare its body). A conditional request is answered 304 where its validator matches.

- /changing/                  the index: links to every page; never changes, no validators
- /changing/N                 page N < CHANGING_PAGES (or < n with ?n=, up to CHANGING_MAX):
                              its version is generation // period(N); each version links to
                              a page of its own, /changing/born/N/VERSION
- /changing/born/N/V          a page that never changes (with an ETag)
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime

__all__ = [
    "CHANGING_MAX",
    "CHANGING_PAGES",
    "ChangingPage",
    "changing_page",
    "page_period",
]

CHANGING_PAGES = 12
CHANGING_MAX = 1_000_000
_EPOCH = 1_767_225_600  # 2026-01-01: version V of a page was last modified V days after it
_DAY = 86400
_PERIODS = (1, 2, None)  # generations between changes, by N % 3 (None: never)
_VALIDATORS = ((True, True), (False, True), (True, False), (False, False))  # ETag, Last-Modified


def page_period(number: int) -> int | None:
    """How many generations page `number` keeps a version (None: for ever)."""
    return _PERIODS[number % 3]


@dataclass(frozen=True, slots=True)
class ChangingPage:
    """One response of the site."""

    status: int
    headers: dict[str, str]
    body: str


def changing_page(
    path: str, query: dict[str, str], request_headers: dict[str, str], generation: int
) -> ChangingPage | None:
    """The response to `path` (under /changing/) at `generation`, or None for a 404."""
    count = min(int(query["n"]), CHANGING_MAX) if query.get("n", "").isdigit() else CHANGING_PAGES
    suffix = f"?n={count}" if "n" in query else ""
    name = path.removeprefix("/changing/")
    if name == "":
        links = [f"/changing/{number}{suffix}" for number in range(count)]
        return ChangingPage(200, {}, _html("changing site", "", links))
    if name.startswith("born/"):
        etag = f'"born-{name[5:].replace("/", "-")}"'
        if request_headers.get("if-none-match") == etag:
            return ChangingPage(304, {"ETag": etag}, "")
        return ChangingPage(200, {"ETag": etag}, _html(f"born {name[5:]}", "", []))
    if not name.isdigit() or int(name) >= count:
        return None
    number = int(name)
    period = page_period(number)
    version = 0 if period is None else generation // period
    has_etag, has_date = _VALIDATORS[number % 4]
    headers = {}
    etag = f'"page-{number}-v{version}"'
    modified = _EPOCH + version * _DAY
    if has_etag:
        headers["ETag"] = etag
    if has_date:
        headers["Last-Modified"] = formatdate(modified, usegmt=True)
    if _not_modified(request_headers, etag if has_etag else None, modified if has_date else None):
        return ChangingPage(304, headers, "")
    links = ["/changing/", f"/changing/born/{number}/{version}"]
    return ChangingPage(200, headers, _html(f"page {number}", f"version {version}", links))


def _not_modified(request_headers: dict[str, str], etag: str | None, modified: int | None) -> bool:
    """RFC 9110 13.2.2: If-None-Match is checked where present, else If-Modified-Since."""
    asked = request_headers.get("if-none-match")
    if asked is not None:
        return etag is not None and etag in (tag.strip() for tag in asked.split(","))
    since = request_headers.get("if-modified-since")
    if since is None or modified is None:
        return False
    try:
        return modified <= parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):
        return False


def _html(title: str, text: str, links: list[str]) -> str:
    anchors = "".join(f'<a href="{link}">{link}</a>\n' for link in links)
    return f"<!doctype html><title>{title}</title><p>{title} {text}</p>\n{anchors}"
