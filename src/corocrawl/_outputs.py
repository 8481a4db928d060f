"""Opening an output by its format: JSON Lines, CSV, Parquet or SQLite."""

from __future__ import annotations

from pathlib import Path

from ._columns import PAGE_COLUMNS
from ._exceptions import ConfigError
from ._parquet import PART_ROWS, ParquetSink  # pyarrow is imported only to open one
from ._sinks import CsvSink, JsonlSink, Sink
from ._sqlite_output import SqliteSink

__all__ = ["OUTPUT_FORMATS", "open_sink", "output_format"]

OUTPUT_FORMATS = ("jsonl", "csv", "parquet", "sqlite")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".sqlite": "sqlite", ".sqlite3": "sqlite",
             ".db": "sqlite"}  # fmt: skip


def output_format(path: str | Path | None, format: str | None = None) -> str:
    """`format`, else the file name's (`.csv`, `.parquet`, `.sqlite`, `.db`), else JSON Lines."""
    chosen = format or _SUFFIXES.get(
        Path("" if path is None else str(path)).suffix.lower(), "jsonl"
    )
    if chosen not in OUTPUT_FORMATS:
        raise ConfigError(f"unknown output format {chosen!r}: use {', '.join(OUTPUT_FORMATS)}")
    return chosen


def open_sink(
    path: str | Path | None,
    *,
    append: bool = False,
    format: str | None = None,
    columns: tuple[str, ...] | None = PAGE_COLUMNS,
    part_rows: int = PART_ROWS,
) -> Sink:
    """An output in `format`, else the file name's, else JSON Lines. `columns` are a CSV's,
    Parquet's or SQLite's (None: the first record's keys); `part_rows`, a Parquet part's."""
    chosen = output_format(path, format)
    if chosen == "jsonl":
        return JsonlSink(path, append=append)
    if chosen == "csv":
        return CsvSink(path, append=append, columns=columns)
    if path is None or str(path) == "-":
        raise ConfigError(f"a {chosen} output cannot go to stdout: give it a file name")
    if chosen == "parquet":
        return ParquetSink(path, append=append, columns=columns, part_rows=part_rows)
    return SqliteSink(path, append=append, columns=columns)
