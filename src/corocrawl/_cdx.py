"""A CDXJ index of WARC files, as pywb and the IIPC tools read it: one line per response or
revisit record, `SURT TIMESTAMP {"url", "mime", "status", "digest", "length", "offset",
"filename"}`, sorted, so a reader finds a URL's captures by binary search.

Lines are appended to `NAME.part` as records are written (whole lines, flushed after the
WARC they point into), and sorted into NAME when the writer closes, merged with what NAME held (a
resumed run adds to its index). The sort is the system's `sort`, which spills to disk: an
index of any size is sorted in bounded memory. A run that was killed leaves its `.part`: the
next run with the same index takes its lines in (a line cut short by the kill is dropped).
The SURT is the Internet Archive's, from the `surt` package (the `cdx` extra), so keys match
those pywb computes for a lookup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import orjson

from ._exceptions import ConfigError, SinkError

__all__ = ["CdxEntry", "CdxWriter", "cdx_timestamp"]

CdxEntry = tuple[str, float, str, str, str, int, int, str]
"""(url, sent_at, mime, status, digest, length, offset, filename) of one record."""


def _surt_function() -> Callable[[str], str]:
    try:
        from surt import surt
    except ImportError:
        raise ConfigError(
            "--cdx needs the surt package (the Internet Archive's URL keys): "
            "pip install 'corocrawl[cdx]' (in a clone: pip install -e '.[cdx]')"
        ) from None
    return surt  # type: ignore[no-any-return]


def cdx_timestamp(sent_at: float) -> str:
    """The 14-digit UTC timestamp CDX files key captures by."""
    import time

    return time.strftime("%Y%m%d%H%M%S", time.gmtime(sent_at))


class CdxWriter:
    """Appends index lines while a run writes WARC records; `close()` sorts them into `path`."""

    def __init__(self, path: Path) -> None:
        self._surt = _surt_function()
        self.path = Path(path)
        self._part = self.path.with_name(self.path.name + ".part")
        self._file: IO[bytes] | None = None
        self._lines: list[bytes] = []

    def add(self, entries: Iterable[CdxEntry]) -> None:
        """Lines kept until `flush`: never on disk before the records they point to."""
        self._lines.extend(self._line(entry) for entry in entries)

    @property
    def waiting(self) -> int:
        """Lines added since the last flush."""
        return len(self._lines)

    def flush(self) -> None:
        if not self._lines:
            return
        lines, self._lines = b"".join(self._lines), []
        try:
            if self._file is None:
                _drop_cut_line(self._part)
                self._file = open(self._part, "ab")  # noqa: SIM115  # closed in close()
            self._file.write(lines)
            self._file.flush()
        except OSError as exc:
            raise SinkError(f"cannot write the CDXJ index {self._part}: {exc.strerror}") from None

    def close(self) -> None:
        """Sort what was added (and what a killed run left) into the index."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
        if not self._part.exists():
            return
        _drop_cut_line(self._part)
        inputs = [self._part] + ([self.path] if self.path.exists() else [])
        folder = self.path.parent
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".cdxj-", delete=False) as sorted_:
            target = Path(sorted_.name)
        try:
            subprocess.run(
                ["sort", "-T", str(folder), "-o", str(target), *map(str, inputs)],
                env={**os.environ, "LC_ALL": "C"},
                check=True,
                capture_output=True,
            )
            shutil.copymode(self._part, target)  # as the system makes files, not 0600
            os.replace(target, self.path)
        except (OSError, subprocess.CalledProcessError) as exc:
            target.unlink(missing_ok=True)
            detail = exc.stderr.decode(errors="replace").strip() if hasattr(exc, "stderr") else exc
            raise SinkError(f"cannot sort the CDXJ index {self.path}: {detail}") from None
        self._part.unlink()

    def _line(self, entry: CdxEntry) -> bytes:
        url, sent_at, mime, status, digest, length, offset, filename = entry
        fields = {"url": url, "mime": mime, "status": status, "digest": digest,
                  "length": str(length), "offset": str(offset), "filename": filename}  # fmt: skip
        key = f"{self._surt(url)} {cdx_timestamp(sent_at)} ".encode()
        return key + orjson.dumps(fields) + b"\n"


def _drop_cut_line(path: Path) -> None:
    """Cut a last line a kill left without its newline."""
    try:
        with path.open("r+b") as stream:
            size = stream.seek(0, os.SEEK_END)
            if size == 0:
                return
            stream.seek(max(0, size - 65536))
            tail = stream.read()
            if tail.endswith(b"\n"):
                return
            stream.truncate(size - len(tail) + tail.rfind(b"\n") + 1)
    except FileNotFoundError:
        return
