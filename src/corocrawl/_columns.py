"""Records as rows: the columns of CSV, Parquet and SQLite outputs, and each cell's value."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["PAGE_COLUMNS", "PAGE_TYPES", "cells", "first_columns", "typed_cells", "types_of"]

# A record's columns: a fetch's, then a crawl's (empty for a fetch). Nested parts are
# flattened one level (error_type, warc_offset...); headers, and any key not listed, go in
# `extra` and `headers` as JSON.
PAGE_COLUMNS = (
    "url", "final_url", "status", "content_type", "bytes", "elapsed", "elapsed_total", "ttfb",
    "attempts", "redirects", "http_version", "error_type", "error_message", "skip", "depth",
    "found_on", "title", "links", "canonical", "redirect", "fetched_at", "recrawl_change",
    "recrawl_by", "recrawl_interval", "warc_file", "warc_offset", "warc_length", "body_path",
    "proxy", "headers", "extra",
)  # fmt: skip
_FLATTENED = frozenset({"error", "warc", "recrawl"})

# A column's type in a typed output: "int", "float", "bool", "text", or "json" (text holding
# JSON: headers, lists, objects, and whatever does not fit its column's type).
_INTS = ("status", "bytes", "attempts", "redirects", "depth", "links", "warc_offset",
         "warc_length")  # fmt: skip
_FLOATS = ("elapsed", "elapsed_total", "ttfb", "fetched_at", "recrawl_interval")
PAGE_TYPES = tuple(
    "int" if column in _INTS
    else "float" if column in _FLOATS
    else "json" if column in ("headers", "extra")
    else "text"
    for column in PAGE_COLUMNS
)  # fmt: skip


def first_columns(record: dict[str, Any]) -> tuple[str, ...]:
    """An items output's columns: its first item's keys, then `extra` for a later item's others."""
    return (*(key for key in record if key != "extra"), "extra")


def cells(record: dict[str, Any], columns: tuple[str, ...]) -> list[Any]:
    """The record's value for each column, in order (None where it has none); `extra` holds
    what has no column of its own."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key in _FLATTENED and isinstance(value, dict):
            flat.update({f"{key}_{inner}": item for inner, item in value.items()})
        else:
            flat[key] = value
    found = [flat.pop(column, None) for column in columns if column != "extra"]
    if "extra" in columns:
        extra = {key: value for key, value in flat.items() if value is not None}
        found.insert(columns.index("extra"), extra or None)
    return found


# The columns of --extract's items, whatever their first item holds.
_ITEM_TYPES = {
    "url": "text", "title": "text", "author": "text", "date": "text", "language": "text",
    "description": "text", "sitename": "text", "text": "text", "jsonld": "json",
    "jsonld_errors": "int", "opengraph": "json", "meta": "json", "extra": "json",
}  # fmt: skip


def types_of(columns: tuple[str, ...], first: list[Any]) -> tuple[str, ...]:
    """An items output's column types: --extract's own, else its first item's values' (text
    where that is empty; JSON text for a list or an object)."""
    return tuple(
        _ITEM_TYPES.get(column) or _type_of(value)
        for column, value in zip(columns, first, strict=True)
    )


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, dict | list | tuple):
        return "json"
    return "text"


def typed_cells(values: list[Any], columns: tuple[str, ...], types: tuple[str, ...]) -> list[Any]:
    """`values` as their columns' types: JSON columns as text; a value of another type than
    its column's goes into `extra` (as JSON), so no row is refused."""
    typed: list[Any] = []
    misfits: dict[str, Any] = {}
    for column, kind, value in zip(columns, types, values, strict=True):
        if value is None or column == "extra":
            typed.append(value)
        elif kind == "json":
            typed.append(orjson.dumps(value).decode())
        elif _fits(kind, value):
            typed.append(float(value) if kind == "float" else value)
        else:
            typed.append(None)
            misfits[column] = value
    if "extra" in columns:
        at = columns.index("extra")
        extra = {**(typed[at] or {}), **misfits}
        typed[at] = orjson.dumps(extra).decode() if extra else None
    return typed


def _fits(kind: str, value: Any) -> bool:
    if isinstance(value, bool):
        return kind == "bool"
    if kind == "int":
        return isinstance(value, int) and -(2**63) <= value < 2**63  # Parquet's int64
    if kind == "float":
        return isinstance(value, int | float)
    if kind == "text":
        return isinstance(value, str)
    return False
