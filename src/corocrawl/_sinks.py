"""Where records go: JSON Lines, whole records only, flushed in batches."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, cast

import orjson

from ._columns import PAGE_COLUMNS, cells, first_columns
from ._exceptions import ConfigError, SinkError

__all__ = ["CsvSink", "JsonlSink", "Sink"]

_FLUSH_BYTES = 64 * 1024
_FLUSH_SECONDS = 1.0


class JsonlSink:
    """Appends one JSON object per line to a file or stdout.

    Records are buffered and written whole, so an interrupted run leaves only complete lines.
    A write that fails (disk full, closed pipe) raises SinkError naming the output; a file is
    then cut back to its last whole record, so what it holds can be read as it is.
    """

    def __init__(self, path: str | Path | None, *, append: bool = False) -> None:
        self._out: io.BufferedIOBase | None = None
        self._fd: int | None = None  # a file: written unbuffered, its whole records counted
        self._whole = 0  # bytes of whole records in the file
        self.file: str | None = None
        """The file's absolute path (None for stdout): what a crawl keeps its length under."""
        self.before_flush: Callable[[], None] | None = None
        """Called before each flush that writes records: to store first what they point to
        (a WarcWriter's flush)."""
        if path is None or str(path) == "-":
            self._name = "<stdout>"
            self._out = cast(io.BufferedIOBase, sys.stdout.buffer)
        else:
            self._name = str(path)
            self.file = str(Path(path).resolve())
            if append:
                _drop_partial_last_line(Path(path))
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
            try:
                self._fd = os.open(path, flags, 0o644)
                self._whole = os.lseek(self._fd, 0, os.SEEK_END)
            except OSError as exc:
                raise SinkError(f"cannot open output {self._name!r}: {exc.strerror}") from None
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._last_flush = time.monotonic()
        self._failure: SinkError | None = None
        self.written = 0

    @property
    def length(self) -> int:
        """Bytes of whole records in the file: all of them once `flush()` has returned."""
        return self._whole

    def cut_back(self, length: int) -> None:
        """Drop what follows the first `length` bytes: the records a killed crawl wrote after
        its last commit, which it is about to redo."""
        assert self._fd is not None, "stdout cannot be cut back"
        size = os.fstat(self._fd).st_size
        if size < length:
            raise ConfigError(
                f"output {self._name!r} holds {size:,} bytes, but the crawl had written "
                f"{length:,} bytes of records to it: it was cut or replaced since. Restore it, "
                "or give another output file for the rest of the crawl"
            )
        try:
            os.ftruncate(self._fd, length)
        except OSError as exc:
            raise SinkError(f"cannot cut back output {self._name!r}: {exc.strerror}") from None
        self._whole = length

    def write(self, record: dict[str, Any]) -> None:
        self.write_line(orjson.dumps(record) + b"\n")

    def write_line(self, line: bytes) -> None:
        """One record already in JSON, with its newline (copied from another JSONL file)."""
        if self._failure is not None:
            raise self._failure
        self._buffer.append(line)
        self._buffered += len(line)
        self.written += 1
        if self._buffered >= _FLUSH_BYTES or time.monotonic() - self._last_flush > _FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        # Once a write has failed, lines were lost: every later call fails too, so nothing
        # written before the failure can be taken for safely stored.
        if self._failure is not None:
            raise self._failure
        if self._buffer:
            if self.before_flush is not None:
                self.before_flush()
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._buffered = 0
            try:
                self._write(data)
            except (OSError, ValueError) as exc:
                if self._fd is not None:
                    with contextlib.suppress(OSError):  # half a record off the end
                        os.ftruncate(self._fd, self._whole)
                reason = getattr(exc, "strerror", None) or str(exc)
                self._failure = SinkError(f"cannot write output {self._name!r}: {reason}")
                raise self._failure from None
        self._last_flush = time.monotonic()

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            assert self._out is not None
            self._out.write(data)
            self._out.flush()
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._whole += len(data)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None


def _drop_partial_last_line(path: Path) -> None:
    """A killed writer may have left half a record at the end: cut back to the last newline,
    so what is appended starts on a line of its own. (That record's request was never marked
    complete, so it will be fetched and recorded again.)"""
    try:
        with open(path, "rb+") as out:
            size = out.seek(0, 2)
            if size == 0:
                return
            out.seek(size - 1)
            if out.read(1) == b"\n":
                return
            chunk = 64 * 1024
            end = size
            while end > 0:
                start = max(0, end - chunk)
                out.seek(start)
                newline = out.read(end - start).rfind(b"\n")
                if newline != -1:
                    out.truncate(start + newline + 1)
                    return
                end = start
            out.truncate(0)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SinkError(f"cannot repair output {str(path)!r}: {exc.strerror}") from None


class Sink(Protocol):
    """Where a crawl's or a fetch's records go: JsonlSink, CsvSink, ParquetSink, SqliteSink.

    `length` is how much of `file` holds whole records once `flush()` has returned (bytes, or
    rows), which a crawl keeps with its state; on a resume `cut_back(length)` drops what was
    written after it. `before_flush` is called before records are stored, to store first what
    they point to."""

    file: str | None
    before_flush: Callable[[], None] | None
    written: int

    @property
    def length(self) -> int: ...

    def write(self, record: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def cut_back(self, length: int) -> None: ...

    def close(self) -> None: ...


class CsvSink(JsonlSink):
    """One CSV row per record, under a header row, with every guarantee of JsonlSink: each
    row is one line (line breaks in a value become spaces), so a file cut back to its last
    whole record, or to a crawl's committed length, is whole rows. A file appended to keeps
    the header it has (and must have one). Without `columns`, they are the first record's
    keys, and `extra` holds as JSON what a later record has besides."""

    def __init__(
        self,
        path: str | Path | None,
        *,
        append: bool = False,
        columns: tuple[str, ...] | None = PAGE_COLUMNS,
    ) -> None:
        super().__init__(path, append=append)
        self._columns = columns
        if self._whole:  # appended to: its own header decides
            header = tuple(_header_of(Path(self._name)))
            if not header or (columns is not None and "url" not in header):
                self.close()
                raise ConfigError(
                    f"output {self._name!r} does not begin with the header of a CSV of "
                    "records (is it in another format?): give another output file"
                )
            self._columns = header
        self._headed = self._whole > 0

    def cut_back(self, length: int) -> None:
        super().cut_back(length)
        self._headed = length > 0

    def write(self, record: dict[str, Any]) -> None:
        if self._columns is None:  # the first record's keys; a later one's others in extra
            self._columns = first_columns(record)
        if not self._headed:
            self._headed = True
            self.write_line(_row(self._columns))
            self.written -= 1  # the header is no record
        self.write_line(_row(cells(record, self._columns)))


def _row(cells: Any) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow([_cell(value) for value in cells])
    return text.getvalue().encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        value = orjson.dumps(value).decode()
    elif isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def _header_of(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as existing:
            return next(csv.reader(existing), [])
    except OSError as exc:
        raise SinkError(f"cannot read output {str(path)!r}: {exc.strerror}") from None
