"""A site that publishes its pages in sitemaps only, under /sitemaps/: no page links to them.

- /sitemaps/                  the home page: links to nothing but itself
- /sitemaps/page/N            the real pages, N < SITEMAP_PAGES
- /sitemaps/index.xml         a sitemap index of every sitemap below, itself too (a cycle)
- /sitemaps/pages.xml         an XML sitemap of pages 0-9, each with a <lastmod>: the even
                              ones NEW_LASTMOD, the odd ones OLD_LASTMOD
- /sitemaps/pages.xml.gz      a gzipped XML sitemap (served as application/gzip) of 10-14
- /sitemaps/list.txt          a text sitemap of 15-19
- /sitemaps/feed.rss          an RSS 2.0 feed of 20-22
- /sitemaps/feed.atom         an Atom feed of 23-25
- /sitemaps/nested/N.xml      an index of nested/N+1.xml: sitemap indexes nested for ever
- /sitemaps/bomb.xml.gz       a gzip bomb: 64 MB of XML in 64 KB
- /sitemaps/broken.xml        an XML sitemap cut short after page 26
- /sitemaps/many.xml?n=N      a sitemap of N URLs (/sitemaps/page/N...), up to MANY_MAX
- /sitemap.xml                the site's well-known sitemap: pages 27-29
"""

from __future__ import annotations

import functools
import gzip

__all__ = ["MANY_MAX", "NEW_LASTMOD", "OLD_LASTMOD", "SITEMAP_PAGES", "render_sitemap"]

SITEMAP_PAGES = 30
NEW_LASTMOD = "2026-11-01"
OLD_LASTMOD = "2020-01-01T10:00:00+00:00"
MANY_MAX = 200_000
_XMLNS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
_HTML = "text/html"
_XML = "application/xml"


def render_sitemap(path: str, query: dict[str, str], origin: str) -> tuple[bytes, str] | None:
    """The body and content type of `path` (from the site's root), or None for a 404; the
    sitemaps name full URLs, on `origin`."""
    if path == "/sitemap.xml":
        return _urlset(origin, range(27, 30)), _XML
    if not path.startswith("/sitemaps/"):
        return None
    name = path.removeprefix("/sitemaps/")
    if name == "":
        return _page("sitemaps home", ["/sitemaps/"]), _HTML
    if name.startswith("page/") and name[5:].isdigit():
        return _page(f"page {int(name[5:])}", []), _HTML
    if name.startswith("nested/") and name.endswith(".xml") and name[7:-4].isdigit():
        return _index(origin, [f"nested/{int(name[7:-4]) + 1}.xml"]), _XML
    if name == "many.xml":
        count = int(query["n"]) if query.get("n", "").isdigit() else 0
        return _urlset(origin, range(min(count, MANY_MAX))), _XML
    if name == "index.xml":
        return _index(origin, _INDEXED), _XML
    if name == "pages.xml":
        return _urlset(origin, range(10), lastmod=True), _XML
    if name == "pages.xml.gz":
        return gzip.compress(_urlset(origin, range(10, 15))), "application/gzip"
    if name == "list.txt":
        return "".join(
            f"{origin}/sitemaps/page/{n}\n" for n in range(15, 20)
        ).encode(), "text/plain"
    if name == "feed.rss":
        return _rss(origin), "application/rss+xml"
    if name == "feed.atom":
        return _atom(origin), "application/atom+xml"
    if name == "bomb.xml.gz":
        return _bomb(), "application/gzip"
    if name == "broken.xml":
        whole = _urlset(origin, range(26, 29))
        return whole[: whole.index(b"/sitemaps/page/27")], _XML  # cut inside the 2nd entry
    return None


_INDEXED = ["index.xml", "pages.xml", "pages.xml.gz", "list.txt", "feed.rss", "feed.atom",
            "nested/1.xml", "bomb.xml.gz", "broken.xml"]  # fmt: skip


def _index(origin: str, names: list[str]) -> bytes:
    entries = "".join(f"<sitemap><loc>{origin}/sitemaps/{name}</loc></sitemap>\n" for name in names)
    return f'<?xml version="1.0"?>\n<sitemapindex {_XMLNS}>\n{entries}</sitemapindex>\n'.encode()


def _urlset(origin: str, numbers: range, lastmod: bool = False) -> bytes:
    def entry(number: int) -> str:
        date = NEW_LASTMOD if number % 2 == 0 else OLD_LASTMOD
        dated = f"<lastmod>{date}</lastmod>" if lastmod else ""
        return f"<url><loc>{origin}/sitemaps/page/{number}</loc>{dated}</url>\n"

    entries = "".join(entry(number) for number in numbers)
    return f'<?xml version="1.0"?>\n<urlset {_XMLNS}>\n{entries}</urlset>\n'.encode()


def _rss(origin: str) -> bytes:
    items = "".join(
        f"<item><title>{n}</title><link>{origin}/sitemaps/page/{n}</link></item>"
        for n in range(20, 23)
    )
    return f'<rss version="2.0"><channel><title>feed</title>{items}</channel></rss>'.encode()


def _atom(origin: str) -> bytes:
    entries = "".join(
        f'<entry><title>{n}</title><link href="{origin}/sitemaps/page/{n}"/></entry>'
        for n in range(23, 26)
    )
    return f'<feed xmlns="http://www.w3.org/2005/Atom"><title>feed</title>{entries}</feed>'.encode()


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b"<urlset>" + b" " * (64 << 20) + b"</urlset>", compresslevel=9)


def _page(title: str, links: list[str]) -> bytes:
    items = "".join(f'<a href="{link}">{link}</a>\n' for link in links)
    return f"<html><head><title>{title}</title></head><body>{items}</body></html>\n".encode()
