"""HTML in, title and links out: what a crawl needs from a page, with a cap on links."""

from __future__ import annotations

from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode
from yarl import URL

from .._models import decode_text
from .._urls import FETCHABLE_SCHEMES
from .directives import robots_directives

__all__ = ["Page", "parse_html", "resolve_link"]

_LINKS = "a[href], area[href], link[rel~=next][href], link[rel~=canonical][href]"
# What a browser fetches to show the page (wget -p): stylesheets, scripts, images, media,
# frames, and every other <link href> (icons, manifests, even rev="made").
_REQUISITES = (
    "link[href], script[src], img[src], input[type=image][src], source[src], video[src], "
    "audio[src], track[src], embed[src], iframe[src], frame[src]"
)
_NOT_LINKS = ("#", "javascript:", "mailto:", "tel:", "data:")


@dataclass(slots=True)
class Page:
    """An HTML page as a crawl's handler sees it.

    `url` is where the page came from (after the redirects the fetch followed), `status` and
    `headers` those of its response (the headers a record keeps: see
    `FetchConfig.record_headers`). `links` are absolute http(s) URLs without fragments, each
    once, in page order, at most the cap; `links_found` counts them before the cap, so
    `links_found - len(links)` were dropped (past the cap a link is counted without being
    resolved, so a repeat there counts again). With a crawl's page requisites on, `requisites`
    are what a browser fetches to show the page (stylesheets, scripts, images...), counted in
    `links_found` and within the cap too. `canonical` is its `<link rel="canonical">`, and
    `robots` the directives of its `<meta name="robots">` (lower case: "noindex", "nofollow"...;
    a crawl adds those of the X-Robots-Tag header). `text` is the decoded HTML, and `tree` the
    parsed document (selectolax's lexbor), parsed once for the links and the handler alike:

        async def headings(page: Page):
            for node in page.css("h1, h2"):
                yield {"heading": node.text(strip=True)}
    """

    url: URL
    title: str | None = None
    links: list[URL] = field(default_factory=list)
    links_found: int = 0
    text: str = ""
    requisites: list[URL] = field(default_factory=list)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    tree: LexborHTMLParser | None = field(default=None, repr=False)
    canonical: URL | None = None
    robots: frozenset[str] = frozenset()

    def css(self, selector: str) -> list[LexborNode]:
        """The document's elements that match the CSS `selector`, in document order."""
        return [] if self.tree is None else self.tree.css(selector)

    def css_first(self, selector: str) -> LexborNode | None:
        """The first element that matches, or None."""
        return None if self.tree is None else self.tree.css_first(selector)


def parse_html(
    body: bytes,
    url: URL,
    *,
    charset: str | None,
    max_links: int,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    requisites: bool = False,
    respect_nofollow: bool = False,
) -> Page:
    """Parse `body` (fetched from `url`, with that status and those headers); malformed HTML
    and bad bytes never raise. With `respect_nofollow`, `<a rel="nofollow">` links are left
    out."""
    text = decode_text(body, charset) if body else ""
    tree = LexborHTMLParser(text)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node is not None else None
    base = url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        base = resolve_link(url, base_node.attributes.get("href") or "") or url
    links, needed, found = _collect_links(
        tree, base, max_links, requisites=requisites, respect_nofollow=respect_nofollow
    )
    canonical_node = tree.css_first("link[rel~=canonical][href]")
    canonical = None if canonical_node is None else _target(base, canonical_node.attrs.get("href"))
    robots = robots_directives(
        *(
            node.attrs.get("content")
            for node in tree.css("meta[name][content]")
            if (node.attrs.get("name") or "").strip().lower() == "robots"
        )
    )
    return Page(
        url=url,
        title=title or None,
        links=links,
        links_found=found,
        text=text,
        requisites=needed,
        status=status,
        headers={} if headers is None else headers,
        tree=tree,
        canonical=canonical,
        robots=robots,
    )


def _collect_links(
    tree: LexborHTMLParser, base: URL, max_links: int, *, requisites: bool, respect_nofollow: bool
) -> tuple[list[URL], list[URL], int]:
    """The page's links, then its requisites, each once, at most `max_links` together, and
    how many were found. Past the cap a link is only counted (neither resolved nor deduped),
    so a page of a million links costs its parse tree and little more."""
    links: list[URL] = []
    needed: list[URL] = []
    seen: set[str] = set()
    past_the_cap = 0
    groups = [(links, _LINKS), (needed, _REQUISITES)] if requisites else [(links, _LINKS)]
    for kept, selector in groups:
        for node in tree.css(selector):
            href = (node.attrs.get("href") if kept is links else _href_or_src(node)) or ""
            if respect_nofollow and kept is links and _nofollow(node):
                continue
            if len(links) + len(needed) >= max_links:
                past_the_cap += _is_reference(href)
                continue
            link = _target(base, href)
            if link is None or (key := str(link)) in seen:
                continue
            seen.add(key)
            kept.append(link)
    return links, needed, len(seen) + past_the_cap


def _nofollow(node: LexborNode) -> bool:
    return "nofollow" in (node.attrs.get("rel") or "").lower().split()


def _href_or_src(node: LexborNode) -> str | None:
    attributes = node.attrs
    return attributes.get("href") or attributes.get("src")


def _is_reference(href: str) -> bool:
    href = href.strip()
    return bool(href) and not href.startswith(_NOT_LINKS)


def _target(base: URL, href: str | None) -> URL | None:
    href = (href or "").strip()
    if not href or href.startswith(_NOT_LINKS):
        return None
    return resolve_link(base, href)


def resolve_link(base: URL, href: str) -> URL | None:
    """`href` made absolute against `base`, without its fragment, if it is an http(s) URL."""
    try:
        link = base.join(URL(href))
        if link.scheme not in FETCHABLE_SCHEMES or not link.raw_host:
            return None
        return link.with_fragment(None) if link.raw_fragment else link
    except (ValueError, TypeError):
        return None
