"""The records of corocrawl's outputs, read once, one line at a time, into plain rows.

`fetch` and `crawl` records alike, from JSON Lines or from CSV (a `.csv` name, as CsvSink
writes them). A line that is not such a record is reported (`file:line: why`) and skipped; a
line longer than MAX_LINE is never held whole: it is read past and reported.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .._exceptions import ConfigError

__all__ = ["MAX_LINE", "Row", "read_rows"]

# A record is about 1 kB (its headers included); one of 1 MiB is no record corocrawl wrote.
MAX_LINE = 1 << 20
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Row:
    """What the report reads of one record. `status` is None when no response came (`error`
    is then its type) or when the URL was skipped (`skip`); `found_on`, `redirect` (a 3xx's
    target) and `fetched_at` are a crawl's; `redirects` counts the hops a fetch followed to
    `final_url`. `crawl` when it is a crawl's record (it has a `depth`)."""

    url: str
    crawl: bool
    status: int | None
    error: str | None
    skip: str | None
    size: int
    elapsed: float | None
    found_on: str | None
    redirect: str | None
    final_url: str | None
    redirects: int
    fetched_at: float | None


class BadRecord(ValueError):
    """A line that is no record: the message says why."""


def read_rows(path: str | Path, on_bad_line: Callable[[str], None]) -> Iterator[Row]:
    """The rows of one output file ('-': stdin, as JSON Lines), in file order. A missing or
    unreadable file is a ConfigError; a bad line is passed to `on_bad_line` as
    `FILE:LINE: why` and skipped. A Parquet output (a folder of parts) and a SQLite one are
    read by their names' suffixes (`.parquet`; `.sqlite`, `.sqlite3`, `.db`)."""
    name = str(path)
    suffix = Path(name).suffix.lower()
    if suffix == ".parquet":
        yield from _table_rows(name, _parquet_records(name), on_bad_line)
        return
    if suffix in (".sqlite", ".sqlite3", ".db"):
        yield from _table_rows(name, _sqlite_records(name), on_bad_line)
        return
    with _opened(name) as stream:
        if name.lower().endswith(".csv"):
            yield from _csv_rows(name, stream, on_bad_line)
        else:
            yield from _jsonl_rows(name, stream, on_bad_line)


@contextmanager
def _opened(name: str) -> Iterator[BinaryIO]:
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(name, "rb")  # noqa: SIM115 (closed below, after the rows)
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a directory, not a file of records") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror}") from None
    with stream:
        yield stream


def _jsonl_rows(name: str, stream: BinaryIO, on_bad_line: Callable[[str], None]) -> Iterator[Row]:
    for number, line in enumerate(_lines(stream), 1):
        if line is None:
            on_bad_line(f"{name}:{number}: longer than {MAX_LINE:,} bytes: skipped")
            continue
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
            if not isinstance(record, dict):
                raise BadRecord("not a JSON object")
            yield _row(record)
        except orjson.JSONDecodeError as exc:
            on_bad_line(f"{name}:{number}: not JSON ({exc.msg}): skipped")
        except BadRecord as exc:
            on_bad_line(f"{name}:{number}: not a corocrawl record ({exc}): skipped")


def _lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """Each line of `stream`, or None for one longer than MAX_LINE (read past, never held)."""
    while line := stream.readline(MAX_LINE + 1):
        if len(line) <= MAX_LINE or line.endswith(b"\n"):
            yield line
            continue
        while (rest := stream.readline(_CHUNK)) and not rest.endswith(b"\n"):
            pass
        yield None


def _csv_rows(name: str, stream: BinaryIO, on_bad_line: Callable[[str], None]) -> Iterator[Row]:
    # Closing the wrapper closes the file under it: it is the file's last user.
    with io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="") as text:
        yield from _csv_text_rows(name, text, on_bad_line)


def _csv_text_rows(
    name: str, text: io.TextIOWrapper, on_bad_line: Callable[[str], None]
) -> Iterator[Row]:
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ConfigError(f"{name}: not a CSV of records ({exc})") from None
    if header is None:
        return
    if "url" not in header:
        raise ConfigError(f"{name}: its first line is not the header of a CSV of records")
    while True:
        number = reader.line_num + 1
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            on_bad_line(f"{name}:{number}: not a CSV row ({exc}): skipped")
            continue
        if cells is None:
            return
        if not any(cells):
            continue
        try:
            yield _row(_from_cells(header, cells))
        except BadRecord as exc:
            on_bad_line(f"{name}:{number}: not a corocrawl record ({exc}): skipped")


# CsvSink's cells are text: these columns are numbers there, and `error_type` is the error's.
_CSV_NUMBERS = {
    "status": int,
    "bytes": int,
    "redirects": int,
    "elapsed": float,
    "fetched_at": float,
}


def _from_cells(header: list[str], cells: list[str]) -> dict[str, Any]:
    if len(cells) != len(header):
        raise BadRecord(f"{len(cells)} cells under a header of {len(header)}")
    record: dict[str, Any] = {}
    for column, cell in zip(header, cells, strict=True):
        if cell == "":
            continue
        convert = _CSV_NUMBERS.get(column)
        if convert is not None:
            try:
                record[column] = convert(cell)
            except ValueError:
                raise BadRecord(f"{column} is {cell[:40]!r}") from None
        else:
            record[column] = cell
    return _unflattened(record)


def _table_rows(
    name: str, records: Iterator[dict[str, Any]], on_bad_line: Callable[[str], None]
) -> Iterator[Row]:
    """Rows of a typed table (Parquet, SQLite): flattened as a CSV's, its cells typed."""
    for number, columns in enumerate(records, 1):
        record = {key: value for key, value in columns.items() if value is not None}
        try:
            yield _row(_unflattened(record))
        except BadRecord as exc:
            on_bad_line(f"{name}: row {number}: not a corocrawl record ({exc}): skipped")


def _parquet_records(name: str) -> Iterator[dict[str, Any]]:
    """A Parquet output's records, one row group's batch at a time."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            f"{name}: reading Parquet needs pyarrow: pip install 'corocrawl[parquet]'"
        ) from None
    folder = Path(name)
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else [folder]
    if not folder.exists():
        raise ConfigError(f"cannot read {name}: No such file or directory")
    for part in parts:
        try:
            batches = pq.ParquetFile(part).iter_batches(batch_size=10_000)
            for batch in batches:
                yield from batch.to_pylist()
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise ConfigError(f"cannot read {part}: {exc}") from None


def _sqlite_records(name: str) -> Iterator[dict[str, Any]]:
    """A SQLite output's `records` table, row by row."""
    if not Path(name).is_file():
        raise ConfigError(f"cannot read {name}: No such file")
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{Path(name).resolve()}?mode=ro", uri=True)
        ) as db:
            db.row_factory = sqlite3.Row
            for row in db.execute("SELECT * FROM records"):
                yield dict(row)
    except sqlite3.Error as exc:
        raise ConfigError(
            f"cannot read {name}: {exc} (a SQLite output has a table records)"
        ) from None


def _unflattened(record: dict[str, Any]) -> dict[str, Any]:
    """A row of a CSV, Parquet or SQLite output (error_type, error_message...) with its
    error as a record has it."""
    if "error_type" in record:
        record["error"] = {"type": record["error_type"]}
    return record


def _row(record: dict[str, Any]) -> Row:
    url = record.get("url")
    if not isinstance(url, str) or not url:
        raise BadRecord("no url")
    error = record.get("error")
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("type"), str):
            raise BadRecord("error is not {type, message}")
        error = error["type"]
    fetched_at = _number(record, "fetched_at")
    return Row(
        url=url,
        crawl="depth" in record,
        status=_whole(record, "status"),
        error=error,
        skip=_text(record, "skip"),
        size=_whole(record, "bytes") or 0,
        elapsed=_number(record, "elapsed"),
        found_on=_text(record, "found_on"),
        redirect=_text(record, "redirect"),
        final_url=_text(record, "final_url"),
        redirects=_whole(record, "redirects") or 0,
        fetched_at=fetched_at,
    )


def _whole(record: dict[str, Any], key: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise BadRecord(f"{key} is {str(value)[:40]!r}, not a whole number")
    return value


def _number(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise BadRecord(f"{key} is {str(value)[:40]!r}, not a number of seconds")
    return float(value)


def _text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    raise BadRecord(f"{key} is not text")
