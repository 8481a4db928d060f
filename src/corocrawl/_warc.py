"""WARC/1.1 files (ISO 28500): each hop of a fetch as a response and a request record.

One gzip member per record, as Heritrix and wget write them, so a reader can seek to any
record's offset; a `warcinfo` record opens every file. A file past `max_size` is closed and the
next one opened (`crawl.warc.gz`, then `crawl-00001.warc.gz`, ...). A run that finds its files
already there (a resumed one) starts the next free name instead of appending, after cutting
from the last of them a record a kill left half-written: every file holds whole records.

    with WarcWriter(Path("crawl.warc.gz")) as warc:
        where = warc.write(result)     # result from a fetch with keep_exchanges=True
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import random
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

try:
    from isal.isal_zlib import compress as _compress
except ImportError:  # no wheel for this platform: the standard library's, slower
    from zlib import compress as _compress

from ._cdx import CdxEntry, CdxWriter
from ._exceptions import SinkError
from ._models import Exchange, FetchResult
from ._version import __version__

__all__ = [
    "DEFAULT_WARC_MAX_SIZE",
    "Unchanged",
    "WarcRecord",
    "WarcWriter",
    "cut_partial_record",
    "read_record_at",
    "read_records",
    "warc_file_names",
]

DEFAULT_WARC_MAX_SIZE = 1_000_000_000  # Heritrix's default: 1 GB a file
_SUFFIX = ".warc.gz"
_CRLF = b"\r\n"
_random = random.Random()  # seeded from os.urandom
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_BASE32_PAIRS = [first + second for first in _BASE32 for second in _BASE32]
# A version-4 UUID: bits 76-79 are its version (4), bits 62-63 its variant (RFC 4122).
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)
_MADE_IN_A_THREAD = 256 * 1024  # bodies larger than this are compressed off the event loop
_BUFFER = 1 << 20
_INDEX_LINES_HELD = 10_000


def warc_file_names(path: Path) -> Iterator[Path]:
    """The names a run's files take, in order: `path`, then `NAME-00001.warc.gz`, ..."""
    stem = path.name[: -len(_SUFFIX)] if path.name.endswith(_SUFFIX) else path.name
    yield path
    serial = 1
    while True:
        yield path.with_name(f"{stem}-{serial:05d}{_SUFFIX}")
        serial += 1


class WarcWriter:
    """Writes the exchanges of fetch results to WARC files: whole records only.

    `write(result)` writes a response record and its request record for each hop (redirects
    first) and returns where the last response record is: `{"file", "offset", "length"}`, the
    pointer a JSONL record keeps, or None for a result without exchanges (a failure, a skip).
    Writes are buffered: `flush()` before the pointers are stored (`close()` flushes too).

    A recrawl's unchanged page is written as a `revisit` record instead of a response, given
    `unchanged` (an Unchanged: how it was found unchanged): with
    the profile `server-not-modified` for a 304 (its head is the record), or
    `identical-payload-digest` for a body equal to the last one (the record holds the head,
    and the body's digest stands for the body).
    """

    def __init__(
        self, path: Path, *, max_size: int = DEFAULT_WARC_MAX_SIZE, cdx: Path | None = None
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        self._index = None if cdx is None else CdxWriter(cdx)
        self._names = warc_file_names(Path(path))
        self._max_size = max_size
        self._file: IO[bytes] | None = None
        self._name = ""
        self._size = 0
        self.files: list[Path] = []  # every file this writer opened, in order
        self._opening = asyncio.Lock()

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def write(
        self, result: FetchResult, *, unchanged: Unchanged | None = None
    ) -> dict[str, Any] | None:
        if not result.exchanges:
            return None
        return self._append(_packed(result.exchanges, unchanged, self._index is not None))

    async def archive(
        self, result: FetchResult, *, unchanged: Unchanged | None = None
    ) -> dict[str, Any] | None:
        """`write` from the event loop: at once for a small body (a thread's hop costs more
        than its compression), in a thread for a large one. Use this or `write`, not both at
        once."""
        return await self.archive_exchanges(result.exchanges, unchanged=unchanged)

    async def archive_exchanges(
        self, exchanges: tuple[Exchange, ...], *, unchanged: Unchanged | None = None
    ) -> dict[str, Any] | None:
        """`archive` for exchanges of no result (a crawl's robots.txt)."""
        if not exchanges:
            return None
        if self._file is None or self._size >= self._max_size:
            async with self._opening:  # results that come meanwhile wait for the one file
                if self._file is None or self._size >= self._max_size:
                    # The last file is closed here, on the loop, where flush() is called;
                    # a resumed run reads its last file through to cut it: not on the loop.
                    self._close_file()
                    await asyncio.to_thread(self._open_next)
        indexed = self._index is not None
        if sum(len(exchange.body) for exchange in exchanges) > _MADE_IN_A_THREAD:
            return self._append(await asyncio.to_thread(_packed, exchanges, unchanged, indexed))
        return self._append(_packed(exchanges, unchanged, indexed))

    def close(self) -> None:
        """Close the file (and sort the CDXJ index, with `cdx`)."""
        self._close_file()
        if self._index is not None:
            self._index.close()

    def _close_file(self) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None

    def _append(self, members: list[_Hop]) -> dict[str, Any]:
        """Append each hop's response and request members; where the last response is."""
        if self._file is None or self._size >= self._max_size:
            self._open_next()
        offset = self._size
        where: dict[str, Any] = {}
        entries: list[CdxEntry] = []
        for response, request, facts in members:
            where = {"file": self._name, "offset": offset, "length": len(response)}
            if facts is not None:
                entries.append((*facts, len(response), offset, self._name))
            offset += len(response) + len(request)
        # The records of one result go in one write: a kill leaves all of them or none.
        self._write(b"".join(member for hop in members for member in hop[:2]))
        if self._index is not None:
            self._index.add(entries)
            if self._index.waiting >= _INDEX_LINES_HELD:  # a writer nobody flushes: bounded
                self.flush()  # the records first, then their lines
        return where

    def _open_next(self) -> None:
        try:
            self._open_next_file()
        except OSError as exc:
            raise SinkError(f"cannot open a WARC file: {exc.strerror}: {exc.filename}") from None

    def _open_next_file(self) -> None:
        first = not self.files
        self._close_file()
        path, last = next(self._names), None
        while path.exists():
            path, last = next(self._names), path
        if first and last is not None and _is_ours(last):
            cut_partial_record(last)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Kept open across writes, closed in close(); written through a large buffer, flushed
        # by flush(): before the output that points into it is.
        file = open(path, "xb", buffering=_BUFFER)  # noqa: SIM115
        warcinfo = _member(_warcinfo_record(path.name))
        file.write(warcinfo)
        file.flush()  # a file killed at once still says whose it is: the next run cuts it
        # Taken up only now, whole: a record written meanwhile (from the loop, while this
        # runs in a thread) goes to the last file or waits, never ahead of the warcinfo.
        self.files.append(path)
        self._name, self._size, self._file = path.name, len(warcinfo), file

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        try:
            self._file.write(data)
        except OSError as exc:
            raise SinkError(f"cannot write WARC file {self._name!r}: {exc.strerror}") from None
        self._size += len(data)

    def flush(self) -> None:
        """Hand what was written to the system (the index lines too): call it before the
        records that point here are flushed (a JsonlSink's `before_flush`)."""
        try:
            if self._file is not None:
                self._file.flush()
        except OSError as exc:
            raise SinkError(f"cannot write WARC file {self._name!r}: {exc.strerror}") from None
        if self._index is not None:
            self._index.flush()


@dataclass(frozen=True, slots=True)
class Unchanged:
    """How a recrawl found a page unchanged: `not-modified` (a 304), or `digest` (the same
    body as last time); `payload` is the sha1 (hex) of the body as last archived."""

    by: str
    payload: str | None = None


_PROFILES = {
    "not-modified": "http://netpreserve.org/warc/1.1/revisit/server-not-modified",
    "digest": "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
}


@dataclass(frozen=True, slots=True)
class WarcRecord:
    """One record read back: its WARC headers (names as written) and its block."""

    headers: dict[str, str]
    block: bytes = field(repr=False)

    @property
    def type(self) -> str:
        return self.headers.get("WARC-Type", "")

    @property
    def target(self) -> str:
        return self.headers.get("WARC-Target-URI", "")


def read_records(path: Path) -> Iterator[tuple[int, WarcRecord]]:
    """Every record of a WARC file written one gzip member per record (as corocrawl, Heritrix
    and wget write them), with its offset; one record in memory at a time. ValueError names
    the file and offset where it stops being one."""
    with path.open("rb") as stream:
        for offset, _, record in _members(stream, path, 0):
            yield offset, record


def read_record_at(path: Path, offset: int) -> WarcRecord:
    """The record whose gzip member starts at `offset`."""
    with path.open("rb") as stream:
        stream.seek(offset)
        for _, _, record in _members(stream, path, offset):
            return record
    raise ValueError(f"{path}: no WARC record at offset {offset}")


def _members(stream: IO[bytes], path: Path, start: int) -> Iterator[tuple[int, int, WarcRecord]]:
    """(start, end, record) of each gzip member from `start` on, a MiB read at a time."""
    offset = position = start
    unpacker = zlib.decompressobj(zlib.MAX_WBITS | 16)
    pieces: list[bytes] = []
    while chunk := stream.read(1 << 20):
        position += len(chunk)
        while chunk:
            try:
                pieces.append(unpacker.decompress(chunk))
            except zlib.error as exc:
                raise ValueError(
                    f"{path}: not a WARC file compressed a record per gzip member (at offset "
                    f"{offset}: {exc})"
                ) from None
            if not unpacker.eof:
                break
            chunk = unpacker.unused_data
            end = position - len(chunk)
            yield offset, end, _parsed(b"".join(pieces), path, offset)
            offset, pieces = end, []
            unpacker = zlib.decompressobj(zlib.MAX_WBITS | 16)
    if pieces:
        raise ValueError(f"{path}: the record at offset {offset} is cut short")


def _parsed(data: bytes, path: Path, offset: int) -> WarcRecord:
    head, separator, rest = data.partition(_CRLF + _CRLF)
    lines = head.decode("utf-8", errors="replace").split("\r\n")
    if not separator or not lines[0].startswith("WARC/"):
        raise ValueError(f"{path}: no WARC record at offset {offset}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    length = int(headers.get("Content-Length", "0") or 0)
    if len(rest) > length + 4:
        raise ValueError(
            f"{path}: more than one record in the gzip member at offset {offset} (a whole file "
            "compressed at once): records must each be a gzip member of their own"
        )
    return WarcRecord(headers, rest[:length])


def _is_ours(path: Path) -> bool:
    """Whether the file opens with a warcinfo record corocrawl wrote: only such a file is
    ever cut (another tool's file, or a file that is no WARC, is left as it is)."""
    try:
        first = read_record_at(path, 0)
    except (OSError, ValueError):
        return False
    return first.type == "warcinfo" and b"software: corocrawl/" in first.block


def cut_partial_record(path: Path) -> int:
    """Cut the file after its last whole gzip member (a record a kill broke off); return how
    many bytes were cut."""
    whole = 0
    with path.open("rb") as stream:
        try:
            for _, end, _ in _members(stream, path, 0):
                whole = end
        except ValueError:
            pass  # a record broken off: kept up to the last whole one
    size = path.stat().st_size
    if whole < size:
        with path.open("r+b") as stream:
            stream.truncate(whole)
    return size - whole


# A hop's response (or revisit) and request members, and what an index line says of the
# response: (url, sent_at, mime, status, payload digest), with `cdx`.
_Hop = tuple[bytes, bytes, tuple[str, float, str, str, str] | None]


def _packed(
    exchanges: tuple[Exchange, ...], unchanged: Unchanged | None = None, indexed: bool = False
) -> list[_Hop]:
    """Each exchange's response (or, for the last, revisit) and request records, each a gzip
    member, and its index facts when `indexed`."""
    packed: list[_Hop] = []
    last = len(exchanges) - 1
    for hop, exchange in enumerate(exchanges):
        response_id, date = _record_id(), _warc_date(exchange.sent_at)
        revisit = unchanged is not None and hop == last and _is_revisit(exchange, unchanged)
        if unchanged is not None and revisit:
            response, digest = _revisit_record(exchange, response_id, date, unchanged)
        else:
            response, digest = _response_record(exchange, response_id, date)
        request = _member(_request_record(exchange, response_id, date))
        facts = _index_facts(exchange, digest, revisit=revisit) if indexed else None
        packed.append((_member(response), request, facts))
    return packed


def _is_revisit(exchange: Exchange, unchanged: Unchanged) -> bool:
    """Whether the record may point to the last capture: only one that was archived (else a
    304 is archived as the response it is). A 304 says the rest itself; an equal body does
    only as it came over the wire: a page gzipped again (a new time in the gzip header) is
    the same page, but not the same payload, and is archived whole."""
    if unchanged.payload is None:
        return False
    if unchanged.by != "digest":
        return True
    return hashlib.sha1(exchange.body).hexdigest() == unchanged.payload


def _index_facts(
    exchange: Exchange, digest: str, *, revisit: bool
) -> tuple[str, float, str, str, str]:
    """What a CDXJ line says of a response: pywb's mime for a revisit is warc/revisit."""
    lines = exchange.response.split(_CRLF)
    status = lines[0].split(b" ", 2)[1].decode("ascii", "replace") if b" " in lines[0] else "-"
    mime = "warc/revisit" if revisit else "unk"
    if not revisit:
        for line in lines[1:]:
            if line[:13].lower() == b"content-type:":
                mime = line[13:].split(b";", 1)[0].strip().decode("latin-1").lower() or "unk"
                break
    return exchange.url, exchange.sent_at, mime, status, digest.removeprefix("sha1:")


def _warcinfo_record(filename: str) -> bytes:
    fields = (
        f"software: corocrawl/{__version__}\r\n"
        "format: WARC File Format 1.1\r\n"
        "conformsTo: https://iipc.github.io/warc-specifications/specifications/"
        "warc-format/warc-1.1/\r\n"
    ).encode()
    headers = [
        ("WARC-Type", "warcinfo"),
        ("WARC-Date", _warc_date(time.time())),
        ("WARC-Filename", filename),
        ("WARC-Record-ID", _record_id()),
        ("Content-Type", "application/warc-fields"),
    ]
    return _record(headers, fields)


def _response_record(exchange: Exchange, record_id: str, date: str) -> tuple[bytes, str]:
    """The record, and its payload digest."""
    head = _as_archived(exchange.response)
    block = hashlib.sha1(head)
    block.update(exchange.body)
    payload = _digest(hashlib.sha1(exchange.body))
    headers = [
        ("WARC-Type", "response"),
        ("WARC-Target-URI", exchange.url),
        ("WARC-Date", date),
        ("WARC-Record-ID", record_id),
        ("Content-Type", "application/http;msgtype=response"),
        ("WARC-Payload-Digest", payload),
        ("WARC-Block-Digest", _digest(block)),
    ]
    if exchange.address:
        headers.append(("WARC-IP-Address", exchange.address))
    if exchange.truncated:
        headers.append(("WARC-Truncated", "length"))
    return _record(headers, head, exchange.body), payload


def _revisit_record(
    exchange: Exchange, record_id: str, date: str, unchanged: Unchanged
) -> tuple[bytes, str]:
    """The record, and the digest it names (the body's for an equal body, else "-")."""
    head = _as_archived(exchange.response)
    block = head if unchanged.by == "digest" else head + exchange.body
    headers = [
        ("WARC-Type", "revisit"),
        ("WARC-Target-URI", exchange.url),
        ("WARC-Date", date),
        ("WARC-Record-ID", record_id),
        ("WARC-Profile", _PROFILES[unchanged.by]),
        ("WARC-Refers-To-Target-URI", exchange.url),
        ("Content-Type", "application/http;msgtype=response"),
    ]
    payload = "-"
    if unchanged.by == "digest":
        payload = _digest(hashlib.sha1(exchange.body))
        headers.append(("WARC-Payload-Digest", payload))
    headers.append(("WARC-Block-Digest", _digest(hashlib.sha1(block))))
    if exchange.address:
        headers.append(("WARC-IP-Address", exchange.address))
    return _record(headers, block), payload


def _request_record(exchange: Exchange, response_id: str, date: str) -> bytes:
    headers = [
        ("WARC-Type", "request"),
        ("WARC-Target-URI", exchange.url),
        ("WARC-Date", date),
        ("WARC-Record-ID", _record_id()),
        ("WARC-Concurrent-To", response_id),
        ("Content-Type", "application/http;msgtype=request"),
    ]
    request = _without_proxy_credentials(exchange.request)
    headers.append(("WARC-Block-Digest", _digest(hashlib.sha1(request))))
    return _record(headers, request)


def _without_proxy_credentials(head: bytes) -> bytes:
    """A request's head without its Proxy-Authorization: a proxy's password is never written."""
    if b"roxy-" not in head and b"ROXY-" not in head:
        return head
    lines = head.split(_CRLF)
    return _CRLF.join(line for line in lines if line[:20].lower() != b"proxy-authorization:")


def _as_archived(head: bytes) -> bytes:
    """A response head as the archive holds it: the body is kept with its chunked framing
    taken off, so a `Transfer-Encoding` header would tell a reader to take it off again. It
    is kept under another name, as warcio and pywb do."""
    if b"ransfer-" not in head and b"RANSFER-" not in head:
        return head
    lines = head.split(_CRLF)
    for index, line in enumerate(lines):
        if line[:18].lower() == b"transfer-encoding:":
            lines[index] = b"X-Archive-Orig-" + line
    return _CRLF.join(lines)


def _record(headers: list[tuple[str, str]], *block: bytes) -> bytes:
    lines = ["WARC/1.1", *(f"{name}: {value}" for name, value in headers)]
    lines.append(f"Content-Length: {sum(map(len, block))}")
    head = "\r\n".join(lines).encode("utf-8")
    return b"".join((head, _CRLF, _CRLF, *block, _CRLF, _CRLF))


def _member(record: bytes) -> bytes:
    """One record as a gzip member of its own, at level 1. With ISA-L (the isal package) where
    it installs: zlib spends about 50 us setting up each stream, more than it takes to
    compress a page, and ISA-L a twentieth of that (benchmarks/RESULTS.md)."""
    return _compress(record, 1, wbits=zlib.MAX_WBITS | 16)


def _digest(sha1: Any) -> str:
    """`sha1:` and the digest in base32, as WARC and CDX files write it (base64's own
    b32encode is written in Python, and several times slower for these 20 bytes): ten bits,
    two letters, at a time."""
    number = int.from_bytes(sha1.digest(), "big")
    pairs = _BASE32_PAIRS
    return "sha1:" + "".join([pairs[(number >> shift) & 1023] for shift in range(150, -1, -10)])


def _record_id() -> str:
    """A version-4 UUID URN, from a generator seeded by the system's randomness: as unique,
    without uuid4's system call for each of a page's two records."""
    number = _random.getrandbits(128) & _UUID_CLEAR | _UUID_SET
    text = f"{number:032x}"
    return f"<urn:uuid:{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}>"


def _warc_date(timestamp: float) -> str:
    """WARC/1.1's date: UTC, to the microsecond."""
    seconds = int(timestamp)
    micro = int((timestamp - seconds) * 1_000_000)
    return f"{_second(seconds)}.{micro:06d}Z"


@functools.lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    """A second's part of the date: the same for the many records of one second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
