"""Reading a sitemap: the URLs a site publishes, from any of the forms sites publish them in.

An XML sitemap (`<urlset>`) or sitemap index (`<sitemapindex>`), a text sitemap (a URL a line),
an RSS or Atom feed, each possibly gzipped. Read as the protocol bounds it: 50,000 URLs and
50 MB uncompressed, whatever the file claims. A file past a cap, or broken part way, gives the
URLs read before that point and says what went wrong: a gzip bomb is read to the cap and no
further. XML is read by expat, which refuses entity expansion bombs (billion laughs) and never
fetches an external entity.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree import ElementTree

from yarl import URL

__all__ = [
    "SITEMAP_MAX_BYTES",
    "SITEMAP_MAX_URLS",
    "SitemapContent",
    "SitemapEntry",
    "parse_date",
    "read_sitemap",
]

SITEMAP_MAX_URLS = 50_000
SITEMAP_MAX_BYTES = 50 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
# Where each form keeps its URLs: the element that holds one entry, and what makes a sitemap
# index's entries sitemaps rather than pages.
_ENTRY_TAGS = {"url": False, "sitemap": True, "item": False, "entry": False}
_DATE_TAGS = frozenset({"lastmod", "pubdate", "updated", "published", "date"})


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    """A URL a sitemap lists, with its `<lastmod>` (or the feed item's date) as written."""

    url: str
    lastmod: str | None = None


@dataclass(slots=True)
class SitemapContent:
    """What one sitemap file gave: `pages` to crawl and `sitemaps` to read (an index's).

    `kind`: urlset, sitemapindex, text, rss, atom, or unknown (an XML root of another kind).
    `older`: entries left out for a `<lastmod>` before the `since` asked for. `over_cap`:
    entries past the 50,000 read. `invalid`: entries that are no http(s) URL. `error`: why
    the file was not read to its end (None when it was)."""

    kind: str = "unknown"
    pages: list[SitemapEntry] = field(default_factory=list)
    sitemaps: list[SitemapEntry] = field(default_factory=list)
    older: int = 0
    over_cap: int = 0
    invalid: int = 0
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        """The form a crawl's record of the sitemap takes."""
        summary: dict[str, Any] = {
            "kind": self.kind,
            "urls": len(self.pages),
            "sitemaps": len(self.sitemaps),
        }
        for name in ("older", "over_cap", "invalid"):
            if getattr(self, name):
                summary[name] = getattr(self, name)
        if self.error is not None:
            summary["error"] = self.error
        return summary


def read_sitemap(
    body: bytes,
    url: URL,
    *,
    since: datetime | None = None,
    max_urls: int = SITEMAP_MAX_URLS,
    max_bytes: int = SITEMAP_MAX_BYTES,
) -> SitemapContent:
    """The entries of the sitemap `body` fetched from `url` (relative URLs are read against
    it). With `since`, an entry dated before it is left out; one without a date is kept."""
    content = SitemapContent()
    body, content.error = _uncompressed(body, max_bytes)
    taken = _Taker(content, url, since, max_urls)
    start = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"<"):
        try:
            for kind, is_sitemap, loc, lastmod in _xml_entries(body, content):
                content.kind = kind
                taken.take(loc, lastmod, is_sitemap)
        except ElementTree.ParseError as exc:
            content.error = content.error or f"not well-formed XML: {exc}"
        except (LookupError, ValueError) as exc:  # an encoding expat does not know, or refuses
            content.error = content.error or f"unreadable XML: {exc}"
    else:
        content.kind = "text"
        for raw in io.BytesIO(body):  # a line at a time: a 50 MB list is never split at once
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            if line[:8].lower().startswith(("http://", "https://")):  # full URLs only
                taken.take(line, None, False)
            else:
                content.invalid += 1
    return content


def parse_date(text: str) -> datetime | None:
    """A W3C datetime (`2026-11`, `2026-11-30T12:00:00+01:00`), or a feed's RFC 822 date,
    as an aware datetime (UTC when no zone is written); None when it is neither."""
    text = text.strip()
    try:
        if len(text) in (4, 7):  # YYYY, YYYY-MM
            text += "-01-01"[: 10 - len(text)] if len(text) == 4 else "-01"
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _uncompressed(body: bytes, max_bytes: int) -> tuple[bytes, str | None]:
    """A gzipped body unpacked (never past `max_bytes`: a bomb stops there), and why not all."""
    cap = f"{max_bytes / 2**20:g} MiB"
    if not body.startswith(_GZIP_MAGIC):
        if len(body) > max_bytes:
            return body[:max_bytes], f"larger than {cap}: read up to there"
        return body, None
    unpacker = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        unpacked = unpacker.decompress(body, max_bytes)
    except zlib.error as exc:
        return b"", f"not valid gzip: {exc}"
    if unpacker.unconsumed_tail:
        return unpacked, f"larger than {cap} uncompressed: read up to there"
    if not unpacker.eof:
        return unpacked, "gzip data cut short: read up to there"
    return unpacked, None


class _Taker:
    """Adds entries to a SitemapContent through the checks and the cap."""

    def __init__(
        self, content: SitemapContent, base: URL, since: datetime | None, max_urls: int
    ) -> None:
        self._content = content
        self._base = base
        self._since = since
        self._room = max_urls

    def take(self, loc: str, lastmod: str | None, is_sitemap: bool) -> None:
        content = self._content
        if self._room <= 0:  # counted, not read: past the cap an entry costs next to nothing
            content.over_cap += 1
            return
        try:
            url = self._base.join(URL(loc.strip()))
        except ValueError:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.raw_host:
            content.invalid += 1
            return
        if self._since is not None and lastmod is not None:
            when = parse_date(lastmod)
            if when is not None and when < self._since:
                content.older += 1
                return
        self._room -= 1
        entry = SitemapEntry(str(url.with_fragment(None)), lastmod)
        (content.sitemaps if is_sitemap else content.pages).append(entry)


def _xml_entries(
    body: bytes, content: SitemapContent
) -> Iterator[tuple[str, bool, str, str | None]]:
    """(kind, is a sitemap, URL, date) for each entry of an XML sitemap or feed, streamed."""
    kind = "unknown"
    path: list[tuple[str, ElementTree.Element]] = []  # the open elements, with local names
    loc: str | None = None
    lastmod: str | None = None
    for event, element in ElementTree.iterparse(io.BytesIO(body), events=("start", "end")):
        name = element.tag.rpartition("}")[2].lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if not path:
                kind = {"urlset": "urlset", "sitemapindex": "sitemapindex", "rss": "rss",
                        "rdf": "rss", "feed": "atom"}.get(name, "unknown")  # fmt: skip
                content.kind = kind
            path.append((name, element))
            continue
        path.pop()
        parent, holder = path[-1] if path else ("", element)
        if path:
            # Every element read is dropped, whatever it is: memory stays flat on a 50 MB
            # file, of entries or of anything else. (Only the open elements are kept.)
            holder.remove(element)
        if parent in _ENTRY_TAGS:
            if name == "loc" or (name == "link" and kind == "rss"):
                loc = element.text or ""
            elif name == "link" and kind == "atom" and element.get("rel") in (None, "alternate"):
                loc = element.get("href", "")
            elif name in _DATE_TAGS and lastmod is None:
                lastmod = element.text
        elif name in _ENTRY_TAGS:
            if loc is not None:
                yield kind, _ENTRY_TAGS[name], loc, lastmod
            loc = lastmod = None
