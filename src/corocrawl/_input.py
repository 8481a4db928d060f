"""URLs from a file or stdin, read lazily, with each bad line reported by number and skipped.

Lines are read by a daemon thread in batches, at most a few batches ahead of the engine, so a
pipe that blocks never blocks the event loop, and ten million lines never sit in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import cast

from ._exceptions import ConfigError
from ._models import Request
from ._urls import fetchable_url

__all__ = ["BadLine", "ReadCursor", "count_url_lines", "open_url_source", "read_requests"]

_READ_BYTES = 128 * 1024
_BATCHES_AHEAD = 4
MAX_LINE_BYTES = 8192
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class BadLine:
    """An input line that is not a URL corocrawl can fetch."""

    source: str
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        shown = self.text if len(self.text) <= 200 else self.text[:200] + "…"
        return f"{self.source}:{self.line}: {self.reason}: {shown!r}"


@dataclass(slots=True)
class ReadCursor:
    """How far `read_requests` has handed out its input: `last_line` is the line of the last
    URL handed out; `ended` once the whole input was read."""

    last_line: int = 0
    ended: bool = False


def open_url_source(path: str) -> tuple[io.BufferedIOBase, str]:
    """Open `path` ('-' for stdin) for reading; ConfigError when it cannot be read."""
    if path == "-":
        return cast(io.BufferedIOBase, sys.stdin.buffer), "<stdin>"
    try:
        return open(path, "rb"), path
    except OSError as exc:
        raise ConfigError(f"cannot read input file {path!r}: {exc.strerror}") from None


async def read_requests(
    stream: io.BufferedIOBase,
    source: str,
    on_bad_line: Callable[[BadLine], None],
    cursor: ReadCursor | None = None,
) -> AsyncIterator[Request]:
    """Yield a Request per URL line; blank lines and '#' comments are skipped silently.
    `cursor` follows how far the input was handed out."""
    cursor = cursor if cursor is not None else ReadCursor()
    # The reader thread closes the stream itself (never stdin): closing it here would wait for
    # the lock a read blocked on an idle pipe holds.
    batches = _BatchReader(stream, asyncio.get_running_loop(), close=stream is not sys.stdin.buffer)
    seq = 0
    try:
        line_number = 0
        while (batch := await batches.next()) is not None:
            for raw in batch:
                line_number += 1
                text = raw.strip()
                if line_number == 1:
                    text = text.removeprefix(_UTF8_BOM)
                if not text or text.startswith(b"#"):
                    continue
                if len(text) > MAX_LINE_BYTES:
                    shown = text[:80].decode("utf-8", "replace")
                    on_bad_line(
                        BadLine(source, line_number, shown, f"longer than {MAX_LINE_BYTES} bytes")
                    )
                    continue
                try:
                    url = text.decode("utf-8")
                    fetchable_url(url)
                except UnicodeDecodeError:
                    on_bad_line(BadLine(source, line_number, repr(text)[2:-1], "not UTF-8"))
                    continue
                except ValueError as exc:
                    on_bad_line(BadLine(source, line_number, url, str(exc)))
                    continue
                cursor.last_line = line_number
                yield Request(url, seq)
                seq += 1
        cursor.ended = True
    finally:
        batches.close()


def count_url_lines(path: str) -> int:
    """Lines that look like URLs (not blank, not comments): the total for a progress bar."""
    count = 0
    with open(path, "rb") as lines:
        for raw in lines:
            stripped = raw.strip()
            if stripped and not stripped.startswith(b"#"):
                count += 1
    return count


class _BatchReader:
    def __init__(
        self, stream: io.BufferedIOBase, loop: asyncio.AbstractEventLoop, *, close: bool
    ) -> None:
        self._stream = stream
        self._close_stream = close
        self._loop = loop
        self._queue: asyncio.Queue[list[bytes] | BaseException | None] = asyncio.Queue()
        self._slots = threading.Semaphore(_BATCHES_AHEAD)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, name="corocrawl-input", daemon=True)
        self._thread.start()

    async def next(self) -> list[bytes] | None:
        item = await self._queue.get()
        self._slots.release()
        if isinstance(item, BaseException):
            raise ConfigError(f"cannot read input: {item}") from item
        return item

    def close(self) -> None:
        self._closed.set()
        self._slots.release()

    def _read(self) -> None:
        end: BaseException | None = None
        try:
            reached_the_end = self._read_batches()
        except (OSError, ValueError) as exc:
            reached_the_end, end = True, exc
        finally:
            if self._close_stream:
                with contextlib.suppress(OSError):  # all was read: the end comes regardless
                    self._stream.close()
        if reached_the_end:
            self._deliver(end)  # only now, so whoever sees the end finds the stream closed

    def _read_batches(self) -> bool:
        """Deliver the stream's lines; False if the reader stopped listening first."""
        tail = b""
        while True:
            self._slots.acquire()
            if self._closed.is_set():
                return False
            # read1 returns what is there now, so lines from a slow pipe flow at once.
            chunk = self._stream.read1(_READ_BYTES)
            if not chunk:
                return not tail or self._deliver([tail])
            lines = (tail + chunk).split(b"\n")
            # An endless line keeps only enough bytes to be reported as too long.
            tail = lines.pop()[: MAX_LINE_BYTES + 1]
            if not self._deliver(lines):
                return False

    def _deliver(self, item: list[bytes] | BaseException | None) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop has closed: nobody is reading any more
            return False
        return True
