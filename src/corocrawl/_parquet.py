"""Parquet outputs: a folder of part files, each closed whole, and the part being written kept
in a spool of JSON lines beside them, so that a kill loses nothing a crawl has committed.

    pages.parquet/part-00000.parquet   100,000 rows, in row groups of 10,000
    pages.parquet/part-00001.parquet
    pages.parquet/_spool.jsonl          the rows of part 2 so far (hidden from readers by its
                                        leading underscore, as Spark's and Arrow's are)

A Parquet file is readable only once its footer is written, so a part in the making is also
spooled: a flush makes the spool durable, and each 100,000 rows the part is closed and the
spool emptied. A resumed crawl reads the spool back into its part and cuts both back to the
rows it committed (rows, not bytes, are an output's length here); a part closed after the
last commit is opened up again into the spool.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ._columns import PAGE_COLUMNS, PAGE_TYPES, cells, first_columns, typed_cells, types_of
from ._exceptions import ConfigError, SinkError
from ._sinks import JsonlSink

if TYPE_CHECKING:
    import pyarrow.parquet as pq  # untyped: its objects are Any here

__all__ = ["ParquetSink"]

ROW_GROUP_ROWS = 10_000
ROW_GROUP_BYTES = 32 * 1024 * 1024  # of spooled JSON: a row group of large items is smaller
PART_ROWS = 100_000
_SPOOL = "_spool.jsonl"
_PART = "part-{:05d}.parquet"
_TYPES_KEY = b"corocrawl.types"  # the columns' kinds (text or JSON text...), in the schema


def _arrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ConfigError(
            "Parquet outputs need pyarrow: pip install 'corocrawl[parquet]'"
        ) from None
    return pyarrow, pyarrow.parquet


class ParquetSink:
    """Records as rows of a Parquet data set: a folder of part files (read it whole with
    `pandas.read_parquet(path)`, `pyarrow.dataset.dataset(path)` or DuckDB's
    `read_parquet('path/*.parquet')`). A record's columns are those of a CSV output
    (`columns`, or the first record's keys when None), typed: integers, floats, text, and JSON
    text for headers, lists, objects and values of another type than their column's first.

    A part is closed at the first flush after `part_rows` rows, and written in row groups of
    10,000 rows (or 32 MiB of records). Memory holds one row group at most; `length` counts
    rows, and `cut_back` drops those a killed crawl wrote after its last commit, as a
    JsonlSink does with bytes."""

    def __init__(
        self,
        path: str | Path,
        *,
        append: bool = False,
        columns: tuple[str, ...] | None = PAGE_COLUMNS,
        part_rows: int = PART_ROWS,
    ) -> None:
        if part_rows < 1:
            raise ConfigError(f"a Parquet part holds at least one row, not {part_rows}")
        self._pa, self._pq = _arrow()
        self._part_limit = part_rows
        self._group_limit = min(ROW_GROUP_ROWS, part_rows)
        self._folder = Path(path)
        self._name = str(path)
        self.file: str | None = str(self._folder.resolve())
        self.before_flush: Callable[[], None] | None = None
        self.written = 0
        self._columns = columns
        self._types: tuple[str, ...] | None = PAGE_TYPES if columns == PAGE_COLUMNS else None
        self._writer: pq.ParquetWriter | None = None
        self._group: list[list[Any]] = []  # the rows of the next row group
        self._group_bytes = 0
        self._part_rows = 0  # rows of the part in the making (spooled)
        self._sealed_rows = 0  # rows of the closed parts
        self._parts: list[tuple[int, int]] = []  # closed parts: (number, rows)
        self._spool: JsonlSink  # set by _open_spool
        if self._folder.exists() and not self._folder.is_dir():
            raise ConfigError(
                f"output {self._name!r} is a file: a Parquet output is a folder of parts"
            )
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            if not append:
                for old in (*self._folder.glob("part-*.parquet"), self._folder / _SPOOL):
                    old.unlink(missing_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot open output {self._name!r}: {exc.strerror}") from None
        self._read_parts()
        self._open_spool()

    @property
    def length(self) -> int:
        """Rows in the closed parts and in the spool: all those written once `flush()` has
        returned."""
        return self._sealed_rows + self._part_rows

    def write(self, record: dict[str, Any]) -> None:
        if self._columns is None:
            self._columns = first_columns(record)
        values = cells(record, self._columns)
        if self._types is None:
            self._types = types_of(self._columns, values)
            self._write_header()
        row = typed_cells(values, self._columns, self._types)
        line = orjson.dumps(row) + b"\n"
        self._spool.write_line(line)
        self.written += 1
        self._part_rows += 1
        self._add_to_group(row, len(line))

    def flush(self) -> None:
        self._spool.flush()
        if self._part_rows >= self._part_limit:
            self._seal()

    def close(self) -> None:
        try:
            self.flush()
            if self._part_rows:
                self._seal()
        finally:
            self._spool.close()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
                with contextlib.suppress(OSError):
                    self._unsealed().unlink()
            if not self._part_rows:
                with contextlib.suppress(OSError):
                    (self._folder / _SPOOL).unlink()

    def cut_back(self, length: int) -> None:
        """Keep the first `length` rows: those of the parts before it, the rest respooled.
        The new spool is made beside the old one and put in its place whole, so a kill in
        the middle leaves the old one (and cutting back again does the same)."""
        if length > self.length:
            raise ConfigError(
                f"output {self._name!r} holds {self.length:,} rows, but the crawl had written "
                f"{length:,} to it: parts were removed since. Restore them, or give another "
                "output for the rest of the crawl"
            )
        if length == self.length:
            return
        kept_parts = self._parts_before(length)
        dropped = self._parts[len(kept_parts) :]
        self._drop_writer()
        self._spool.close()
        spool, rewritten = self._folder / _SPOOL, self._folder / f"{_SPOOL}.new"
        start = sum(rows for _, rows in kept_parts)
        header = {"part": _next_after(kept_parts), "columns": self._columns, "types": self._types}
        try:
            with rewritten.open("wb") as out:
                out.write(orjson.dumps(header) + b"\n")
                for line in itertools.islice(self._rows_after(kept_parts), length - start):
                    out.write(line)
                out.flush()
                os.fsync(out.fileno())
            os.replace(rewritten, spool)
            # Only now that the spool holds their rows (a kill before: it is stale, they stay).
            for number, _ in dropped:
                (self._folder / _PART.format(number)).unlink()
        except OSError as exc:
            raise SinkError(f"cannot cut back output {self._name!r}: {exc.strerror}") from None
        self._parts = kept_parts
        self._sealed_rows = start
        self._part_rows = length - start
        self._spool = self._spool_sink(append=True)
        self._replay()

    # The closed parts.

    def _read_parts(self) -> None:
        parts = []
        for path in self._folder.glob("part-*.parquet"):
            try:
                number = int(path.stem.removeprefix("part-"))
                rows = self._pq.ParquetFile(path).metadata.num_rows
            except (ValueError, OSError) as exc:
                raise ConfigError(f"output {self._name!r}: {path.name} is no part: {exc}") from None
            parts.append((number, rows))
        self._parts = sorted(parts)
        self._sealed_rows = sum(rows for _, rows in self._parts)
        if self._parts and self._columns is None:
            schema = self._pq.read_schema(self._folder / _PART.format(self._parts[0][0]))
            self._columns = tuple(schema.names)
            self._types = tuple(orjson.loads((schema.metadata or {})[_TYPES_KEY]))

    def _parts_before(self, length: int) -> list[tuple[int, int]]:
        kept, total = [], 0
        for number, rows in self._parts:
            if total + rows > length:
                break
            kept.append((number, rows))
            total += rows
        return kept

    def _rows_after(self, kept: list[tuple[int, int]]) -> Iterator[bytes]:
        """The spool lines of the rows after the `kept` parts: those of the next part, if
        it was closed (after the last commit), then the spool's; one row group at a time."""
        if len(kept) < len(self._parts):
            number = self._parts[len(kept)][0]
            part = self._pq.ParquetFile(self._folder / _PART.format(number))
            for batch in part.iter_batches(batch_size=self._group_limit):
                for row in batch.to_pylist():
                    yield orjson.dumps(list(row.values())) + b"\n"
            return
        yield from self._spooled_lines()

    def _seal(self) -> None:
        """Close the part in the making, then empty the spool (a kill between the two leaves
        a spool whose part is closed: see _open_spool)."""
        self._write_group()
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        number = self._next_part()
        os.replace(self._unsealed(), self._folder / _PART.format(number))
        self._parts.append((number, self._part_rows))
        self._sealed_rows += self._part_rows
        self._part_rows = 0
        self._new_spool()

    def _next_part(self) -> int:
        return _next_after(self._parts)

    # The spool: a header line (which part, its columns and their types), then one row a line.

    def _open_spool(self) -> None:
        """The spool a killed run left, if it holds the part in the making; else a new one."""
        header = _first_line(self._folder / _SPOOL)
        if header is None or header.get("part") != self._next_part():
            self._new_spool()
            return
        self._columns, self._types = tuple(header["columns"]), tuple(header["types"])
        self._spool = self._spool_sink(append=True)
        self._part_rows = sum(1 for _ in self._spooled_lines())
        self._replay()

    def _new_spool(self) -> None:
        """An empty spool for the next part (its header written once the columns are known)."""
        previous: JsonlSink | None = getattr(self, "_spool", None)
        if previous is not None:
            previous.close()
        self._spool = self._spool_sink(append=False)
        if self._columns is not None and self._types is not None:
            self._write_header()

    def _spool_sink(self, *, append: bool) -> JsonlSink:
        spool = JsonlSink(self._folder / _SPOOL, append=append)
        spool.before_flush = self._before_spool_flush  # the spool's rows are the records
        return spool

    def _before_spool_flush(self) -> None:
        if self.before_flush is not None:
            self.before_flush()

    def _write_header(self) -> None:
        header = {"part": self._next_part(), "columns": self._columns, "types": self._types}
        self._spool.write_line(orjson.dumps(header) + b"\n")
        self._spool.written -= 1
        self._spool.flush()

    def _spooled_lines(self) -> Iterator[bytes]:
        with (self._folder / _SPOOL).open("rb") as spool:
            next(spool, None)
            for line in spool:
                if line.endswith(b"\n"):
                    yield line

    def _replay(self) -> None:
        """The part in the making, made again from its spool (memory: one row group)."""
        self._drop_writer()
        for line in self._spooled_lines():
            self._add_to_group(orjson.loads(line), len(line))

    # The part in the making.

    def _unsealed(self) -> Path:
        return self._folder / f".part-{self._next_part():05d}.parquet.tmp"

    def _add_to_group(self, row: list[Any], size: int) -> None:
        self._group.append(row)
        self._group_bytes += size
        if len(self._group) >= self._group_limit or self._group_bytes >= ROW_GROUP_BYTES:
            self._write_group()

    def _write_group(self) -> None:
        if not self._group:
            return
        columns, types = self._columns, self._types
        assert columns is not None
        assert types is not None
        schema = self._pa.schema(
            [(column, _ARROW[kind](self._pa)) for column, kind in zip(columns, types, strict=True)],
            metadata={_TYPES_KEY: orjson.dumps(self._types)},
        )
        try:
            table = self._pa.Table.from_arrays(
                [self._pa.array(column, type=field.type)
                 for column, field in zip(zip(*self._group, strict=True), schema, strict=True)],
                schema=schema,
            )  # fmt: skip
            if self._writer is None:
                self._writer = self._pq.ParquetWriter(self._unsealed(), schema)
            self._writer.write_table(table)
        except (OSError, OverflowError, self._pa.ArrowException) as exc:
            raise SinkError(f"cannot write output {self._name!r}: {exc}") from None
        self._group = []
        self._group_bytes = 0

    def _drop_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._group = []
        self._group_bytes = 0
        self._unsealed().unlink(missing_ok=True)


_ARROW: dict[str, Callable[[Any], Any]] = {
    "int": lambda pa: pa.int64(),
    "float": lambda pa: pa.float64(),
    "bool": lambda pa: pa.bool_(),
    "text": lambda pa: pa.string(),
    "json": lambda pa: pa.string(),
}


def _next_after(parts: list[tuple[int, int]]) -> int:
    return parts[-1][0] + 1 if parts else 0


def _first_line(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as spool:
            line = spool.readline()
    except FileNotFoundError:
        return None
    if not line.endswith(b"\n"):
        return None
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return header if isinstance(header, dict) else None
