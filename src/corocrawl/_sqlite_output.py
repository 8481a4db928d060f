"""SQLite outputs: records as rows of one table, each flush one transaction."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ._columns import PAGE_COLUMNS, cells, first_columns
from ._exceptions import ConfigError, SinkError

__all__ = ["SqliteSink"]

_FLUSH_ROWS = 2_000
_ROW = "_row"  # each table's own row number: what its length counts, whatever the items hold


class SqliteSink:
    """Records as rows of the table `records` (a crawl's or a fetch's) or `items` (when
    `columns` is None: the first item's keys) in a SQLite file; columns as in a CSV output,
    headers, lists and objects as JSON text (`json_extract` reads them), other values as they
    are (the columns have no declared type, so SQLite converts none: "01234" stays text). A
    key that differs from an earlier column only in case (SQLite's names do not) goes in
    `extra`. Rows are inserted in one transaction per flush, so a file holds whole records
    only; `length` counts rows (the `_row` column numbers them), and `cut_back` drops those a
    killed crawl wrote after its last commit.

        sqlite3 pages.sqlite "SELECT status, count(*) FROM records GROUP BY status"
    """

    def __init__(
        self,
        path: str | Path,
        *,
        append: bool = False,
        columns: tuple[str, ...] | None = PAGE_COLUMNS,
    ) -> None:
        self._name = str(path)
        self.file: str | None = str(Path(path).resolve())
        self.before_flush: Callable[[], None] | None = None
        self.written = 0
        self._table = "records" if columns is not None else "items"
        self._columns = columns
        self._rows: list[list[Any]] = []
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            if not append:
                self._db.execute(f"DROP TABLE IF EXISTS {self._table}")
            existing = [
                row[1]
                for row in self._db.execute(f"PRAGMA table_info({self._table})")
                if row[1] != _ROW
            ]
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"output {self._name!r} is no SQLite file we can write: {exc}"
            ) from None
        if existing:
            if columns is not None and "url" not in existing:
                raise ConfigError(
                    f"output {self._name!r} has a table {self._table} of other records: give "
                    "another output file"
                )
            self._columns = tuple(existing)
        elif columns is not None:
            self._create(columns)
        self._length = self._count() if self._columns is not None else 0

    @property
    def length(self) -> int:
        """Rows in the table: all those written once `flush()` has returned."""
        return self._length

    def write(self, record: dict[str, Any]) -> None:
        if self._columns is None:
            self._columns = _distinct(first_columns(record))
            self._create(self._columns)
        self._rows.append([_value(cell) for cell in cells(record, self._columns)])
        self.written += 1
        if len(self._rows) >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        if self.before_flush is not None:
            self.before_flush()
        assert self._columns is not None
        names = ", ".join(map(_quoted, self._columns))
        marks = ", ".join("?" * len(self._columns))
        insert = f"INSERT INTO {self._table} ({names}) VALUES ({marks})"
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(insert, self._rows)
        except sqlite3.Error as exc:
            raise SinkError(f"cannot write output {self._name!r}: {exc}") from None
        self._length += len(self._rows)
        self._rows.clear()

    def cut_back(self, length: int) -> None:
        if self._length < length:
            raise ConfigError(
                f"output {self._name!r} holds {self._length:,} rows in {self._table}, but the "
                f"crawl had written {length:,}: rows were deleted since. Restore them, or give "
                "another output file for the rest of the crawl"
            )
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute(f"DELETE FROM {self._table} WHERE {_ROW} > ?", (length,))
        except sqlite3.Error as exc:
            raise SinkError(f"cannot cut back output {self._name!r}: {exc}") from None
        self._length = length

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()

    def _create(self, columns: tuple[str, ...]) -> None:
        declared = ", ".join([f"{_ROW} INTEGER PRIMARY KEY", *map(_quoted, columns)])
        try:
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {self._table} ({declared})")
        except sqlite3.Error as exc:
            raise SinkError(f"cannot write output {self._name!r}: {exc}") from None

    def _count(self) -> int:
        query = f"SELECT coalesce(max({_ROW}), 0) FROM {self._table}"
        (rows,) = self._db.execute(query).fetchone()
        return int(rows)


def _distinct(columns: tuple[str, ...]) -> tuple[str, ...]:
    """The columns SQLite can tell apart: each name once, whatever its case, and neither _row
    nor extra but for extra itself, last."""
    seen = {_ROW, "extra"}
    kept = []
    for column in columns:
        if column.casefold() not in seen:
            seen.add(column.casefold())
            kept.append(column)
    return (*kept, "extra")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _value(cell: Any) -> Any:
    if isinstance(cell, dict | list | tuple):
        return orjson.dumps(cell).decode()
    if isinstance(cell, int) and not -(2**63) <= cell < 2**63:
        return str(cell)  # past SQLite's integers
    return cell
