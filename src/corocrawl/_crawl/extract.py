"""--extract: what a page says, as an item. `text` is its main text and metadata (trafilatura,
the `extract` extra); `meta` its structured data: JSON-LD, OpenGraph and `<meta>` tags."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from .parse import Page

__all__ = ["Extractor", "main_text", "structured_data"]

TEXT_FIELDS = ("title", "author", "date", "language", "description", "sitename", "text")
# trafilatura's fast mode (without its fallback extractors) and dates from the page's markup,
# not guessed from its text: 1.6 ms a page of the bench site against 4.2 ms, by timeit.
_DATES = {"extensive_search": False, "original_date": True}
_MAX_JSON_LD = 1024 * 1024  # characters of one script: past this it is counted, not parsed


class Extractor:
    """One item per page, with what each extract found (the same keys on every page, None
    where nothing was found, so a CSV or Parquet output has one column each).

        extractor = Extractor(("text", "meta"))
        item = await extractor.item(page)  # {"url": ..., "title": ..., "jsonld": [...], ...}
        extractor.close()

    Main text is found on one thread beside the event loop: a large page takes trafilatura
    tens of milliseconds, which the loop's fetches cannot wait for, and one thread keeps the
    loop's share of the interpreter a half.
    """

    def __init__(self, extracts: tuple[str, ...]) -> None:
        self.extracts = extracts
        self._thread = (
            ThreadPoolExecutor(1, thread_name_prefix="corocrawl-extract")
            if "text" in extracts
            else None
        )

    async def item(self, page: Page) -> dict[str, Any]:
        item: dict[str, Any] = {"url": str(page.url)}
        if self._thread is not None:
            loop = asyncio.get_running_loop()
            text = await loop.run_in_executor(self._thread, main_text, page.text, str(page.url))
            text["title"] = text["title"] or page.title
            text["author"] = text["author"] or _meta_content(page, "author")
            text["description"] = text["description"] or _meta_content(page, "description")
            text["language"] = text["language"] or _declared_language(page)
            item.update(text)
        if "meta" in self.extracts:
            item.update(structured_data(page))
        return item

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)


def main_text(html: str, url: str) -> dict[str, Any]:
    """The page's main text (boilerplate left out) and its title, author, date, language,
    description and site name, by trafilatura (in its fast mode, with dates from the page's
    markup): None for what it did not find."""
    from trafilatura import bare_extraction

    # Its notes ("discarding data: URL") would read as corocrawl's, dropping records.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    found: dict[str, Any] = dict.fromkeys(TEXT_FIELDS)
    try:
        document = bare_extraction(
            html, url=url, with_metadata=True, fast=True, date_extraction_params=_DATES
        )
    except Exception:  # a page it cannot read has no main text, not a crash
        document = None
    if document is not None:
        values = document if isinstance(document, dict) else document.as_dict()
        found.update({key: values.get(key) or None for key in TEXT_FIELDS})
    return found


def _declared_language(page: Page) -> str | None:
    """The page's own `<html lang>`, else its Content-Language: where trafilatura names none."""
    root = page.css_first("html[lang]")
    declared = root.attrs.get("lang") if root is not None else None
    declared = declared or page.headers.get("content-language", "").split(",")[0]
    return declared.strip() or None


def _meta_content(page: Page, name: str) -> str | None:
    for node in page.css("meta[name][content]"):
        if (node.attrs.get("name") or "").strip().lower() == name:
            return (node.attrs.get("content") or "").strip() or None
    return None


def structured_data(page: Page) -> dict[str, Any]:
    """The page's JSON-LD objects, its OpenGraph properties (`og:`, and those of the types it
    declares, such as `article:`), and its other `<meta name content>` tags. A property given
    more than once keeps every value, in a list; JSON-LD that does not parse is counted in
    `jsonld_errors` (0 when all did)."""
    jsonld: list[Any] = []
    errors = 0
    for script in page.css('script[type="application/ld+json"]'):
        source = script.text(deep=True)
        if len(source) > _MAX_JSON_LD:
            errors += 1
            continue
        try:
            value = orjson.loads(source.strip() or "null")
        except orjson.JSONDecodeError:
            errors += 1
            continue
        if value is not None:
            jsonld.extend(value if isinstance(value, list) else [value])
    opengraph: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for node in page.css("meta[content]"):
        content = node.attrs.get("content")
        prop = (node.attrs.get("property") or "").strip()
        name = (node.attrs.get("name") or "").strip().lower()
        if content is None:
            continue
        if ":" in prop:
            _add(opengraph, prop, content)
        elif name:
            _add(meta, name, content)
    return {
        "jsonld": jsonld or None,
        "jsonld_errors": errors,
        "opengraph": opengraph or None,
        "meta": meta or None,
    }


def _add(values: dict[str, Any], key: str, value: str) -> None:
    if key not in values:
        values[key] = value
    elif isinstance(values[key], list):
        values[key].append(value)
    else:
        values[key] = [values[key], value]
