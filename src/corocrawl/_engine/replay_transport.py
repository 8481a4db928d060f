"""Fetches answered from WARC files instead of the network: `--replay`.

The archive's responses are indexed by URL when the transport opens (the latest of a URL wins),
in a SQLite file of its own, so an archive of millions of pages costs disk, not memory. A
fetch then reads its record, hop by hop through archived redirects, and answers with the
response as it was received: the same limits apply (the body is decoded and counted against
the cap as over the network). A URL the archive does not hold goes to the network transport
given, or is NotArchived when there is none (`--replay-only`).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from yarl import URL

from .._config import FetchConfig
from .._exceptions import ConfigError, FetchError, NotArchived, ResponseTooLarge, TooManyRedirects
from .._warc import read_record_at, read_records
from .decoding import BodyDecoder
from .transport import REDIRECT_STATUSES, Response, Transport, content_type_of, redirect_target

__all__ = ["ArchiveIndex", "ReplayTransport", "warc_files"]

_BATCH = 10_000


def warc_files(sources: Sequence[Path]) -> list[Path]:
    """The WARC files of `sources` (files, or directories of *.warc.gz), in order."""
    found: list[Path] = []
    for source in sources:
        if source.is_dir():
            found += sorted(source.glob("*.warc.gz"), key=_written_order)
        elif source.is_file():
            found.append(source)
        else:
            raise ConfigError(f"--replay {str(source)!r}: no such file or directory")
    if not found:
        raise ConfigError(f"--replay: no WARC files in {', '.join(map(str, sources))}")
    return found


def _written_order(path: Path) -> tuple[str, int]:
    """crawl.warc.gz, then crawl-00001.warc.gz, ...: the order a writer made them in (by
    name, crawl-00001 would come first), so that the latest response of a URL wins."""
    match = re.fullmatch(r"(.*)-(\d{5})\.warc\.gz", path.name)
    if match is None:
        return path.name.removesuffix(".warc.gz"), 0
    return match[1], int(match[2])


class ArchiveIndex:
    """Where each URL's latest response record is, in a SQLite file removed by `close()`."""

    def __init__(self, files: Sequence[Path]) -> None:
        self.files = list(files)
        self._folder = Path(tempfile.mkdtemp(prefix="corocrawl-replay-"))
        self._db = sqlite3.connect(self._folder / "index.db", check_same_thread=False)
        self._db.execute("CREATE TABLE responses (url TEXT PRIMARY KEY, file INT, offset INT)")
        self.responses = 0

    @classmethod
    def build(cls, files: Sequence[Path]) -> ArchiveIndex:
        """Read every record of the files once (ValueError on one that is no WARC)."""
        index = cls(files)
        try:
            batch: list[tuple[str, int, int]] = []
            for number, path in enumerate(index.files):
                for offset, record in read_records(path):
                    if record.type == "response" and record.target:
                        batch.append((record.target, number, offset))
                    if len(batch) >= _BATCH:
                        index._add(batch)
                index._add(batch)
        except BaseException:
            index.close()
            raise
        return index

    def find(self, url: str) -> tuple[Path, int] | None:
        row = self._db.execute("SELECT file, offset FROM responses WHERE url = ?", (url,))
        found = row.fetchone()
        return None if found is None else (self.files[found[0]], found[1])

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def _add(self, batch: list[tuple[str, int, int]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", batch)
        self._db.commit()
        self.responses += len(batch)
        batch.clear()


class ReplayTransport:
    """A Transport that answers from WARC files; `network` takes what they do not hold."""

    def __init__(
        self, config: FetchConfig, sources: Sequence[Path], network: Transport | None
    ) -> None:
        self._config = config
        self._files = warc_files(sources)
        self._network = network
        self._index: ArchiveIndex | None = None
        self._keep_body = config.keep_body or config.save_bodies is not None

    async def __aenter__(self) -> ReplayTransport:
        try:
            self._index = await asyncio.to_thread(ArchiveIndex.build, self._files)
        except ValueError as exc:
            raise ConfigError(f"--replay: {exc}") from None
        if self._network is not None:
            await self._network.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._network is not None:
            await self._network.__aexit__(exc_type, exc, traceback)
        if self._index is not None:
            self._index.close()
            self._index = None

    async def fetch(
        self,
        url: URL,
        *,
        max_bytes: int | None = None,
        truncate: bool = False,
        follow_redirects: bool | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Response:
        """The archived response for `url` (following archived redirects); see
        `Transport.fetch`."""
        assert self._index is not None, "the transport is not open: use 'async with'"
        follow = self._config.follow_redirects if follow_redirects is None else follow_redirects
        cap = self._config.limits.max_body_bytes if max_bytes is None else max_bytes
        started = time.perf_counter()
        for hop in range(self._config.limits.max_redirects + 1):
            found = self._index.find(str(url))
            if found is None:
                if self._network is None:
                    raise NotArchived("not in the archive replayed", url=str(url))
                return await self._network.fetch(url, max_bytes=max_bytes, truncate=truncate,
                                                 follow_redirects=follow_redirects,
                                                 headers=headers)  # fmt: skip
            record = await asyncio.to_thread(read_record_at, *found)
            status, version, archived, body = _http_response(record.block, url)
            location = archived.get("location")
            if not (follow and status in REDIRECT_STATUSES and location):
                return self._response(url, status, version, archived, body, cap, truncate, hop,
                                      time.perf_counter() - started)  # fmt: skip
            url = redirect_target(url, location)
        limit = self._config.limits.max_redirects
        raise TooManyRedirects(f"more than {limit} redirects", url=str(url))

    def _response(
        self,
        url: URL,
        status: int,
        version: str,
        headers: dict[str, str],
        raw: bytes,
        cap: int,
        truncate: bool,
        redirects: int,
        elapsed: float,
    ) -> Response:
        body, cut = _decoded(raw, headers.get("content-encoding"), status, cap, truncate, url)
        content_type, charset = content_type_of(headers.get("content-type"))
        recorded = self._config.record_headers
        return Response(
            url=url,
            status=status,
            headers={name: headers[name] for name in recorded if name in headers},
            content_type=content_type,
            charset=charset,
            size=len(body),
            body=body if self._keep_body or truncate else None,
            ttfb=elapsed,
            redirects=redirects,
            retry_after=headers.get("retry-after"),
            http_version=version,
            cut=cut,
        )


def _decoded(
    raw: bytes, coding: str | None, status: int, cap: int, truncate: bool, url: URL
) -> tuple[bytes, bool]:
    """The body with its Content-Encoding undone, counted against the cap as it inflates (an
    archived bomb stops there, as one over the network does), and whether it was cut."""
    if not coding:
        pieces = [raw]
    else:
        decoder = BodyDecoder(coding, url=str(url), strict=200 <= status < 300)
        pieces = []
        size = 0
        for piece in decoder.feed(raw):
            size += len(piece)
            pieces.append(piece)
            if size > cap:
                break
        else:
            decoder.finish()
    body = b"".join(pieces)
    if len(body) > cap:
        if not truncate:
            raise ResponseTooLarge(f"body is over the {cap}-byte cap", url=str(url))
        return body[:cap], True
    return body, False


def _http_response(block: bytes, url: URL) -> tuple[int, str, dict[str, str], bytes]:
    """(status, HTTP version, headers by lower-cased name, body) of an archived response."""
    head, _, body = block.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise FetchError(f"the archived response has no status line: {status_line!r}", url=str(url))
    version = parts[0].replace("HTTP/2.0", "HTTP/2")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        if key == "content-encoding" and key in headers:
            headers[key] += f", {value.strip()}"
        else:
            headers.setdefault(key, value.strip())
    return int(parts[1]), version, headers, body
