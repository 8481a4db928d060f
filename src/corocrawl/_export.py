"""One record per URL out of many workers' output files, in memory that does not grow with them.

At-least-once delivery may have recorded a URL twice (a worker died after writing it, before
acknowledging it). Which record to keep is decided in a scratch SQLite table keyed by the URL's
fingerprint, on disk, so ten million URLs cost disk, not memory: a response beats an error, a
page fetched whole beats a recrawl's "unchanged" (which has no body to tell of), and then the
latest (`fetched_at`) wins, else the first one written. A second pass copies the chosen
lines, in file order.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ._exceptions import ConfigError, SinkError
from ._sinks import JsonlSink
from ._urls import canonical_url, fetchable_url, fingerprint

__all__ = ["export_best_records"]

_BATCH = 10_000
_KEEP_THE_BETTER = """
    INSERT INTO best (key, rank, at, file, line) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET rank = excluded.rank, at = excluded.at,
                                    file = excluded.file, line = excluded.line
    WHERE excluded.rank < best.rank OR (excluded.rank = best.rank AND excluded.at > best.at)
"""


def export_best_records(
    files: Sequence[Path],
    output: JsonlSink,
    on_bad_line: Callable[[str], None],
    *,
    scratch_dir: Path,
) -> int:
    """Write the best record of each URL in `files` to `output`; the number of URLs.

    The scratch table (about 50 bytes per URL) goes in `scratch_dir`: a disk beside the data,
    rather than a temporary directory that may be memory (tmpfs)."""
    try:
        scratch = tempfile.TemporaryDirectory(prefix=".corocrawl-export-", dir=scratch_dir)
    except OSError as exc:
        raise SinkError(f"cannot make export's scratch table in {scratch_dir}: {exc}") from None
    with scratch:
        try:
            db = sqlite3.connect(Path(scratch.name) / "best.db")
        except sqlite3.Error as exc:
            raise SinkError(f"export's scratch table in {scratch_dir}: {exc}") from None
        try:
            return _export(files, output, on_bad_line, db)
        except sqlite3.Error as exc:  # a full disk, most likely
            raise SinkError(f"export's scratch table in {scratch_dir}: {exc}") from None
        finally:
            db.close()


def _export(
    files: Sequence[Path],
    output: JsonlSink,
    on_bad_line: Callable[[str], None],
    db: sqlite3.Connection,
) -> int:
    db.executescript("""
        PRAGMA journal_mode = OFF;
        PRAGMA synchronous = OFF;
        CREATE TABLE best (key BLOB PRIMARY KEY, rank INT, at REAL, file INT, line INT)
            WITHOUT ROWID;
    """)
    for file_index, path in enumerate(files):
        ranked = _ranked(file_index, path, on_bad_line)
        while batch := list(islice(ranked, _BATCH)):
            db.executemany(_KEEP_THE_BETTER, batch)
    db.execute("CREATE INDEX chosen ON best (file, line)")
    for file_index, path in enumerate(files):
        chosen = (line for (line,) in db.execute(
            "SELECT line FROM best WHERE file = ? ORDER BY line", (file_index,)
        ))  # fmt: skip
        wanted = next(chosen, None)
        with _opened(path) as lines:
            for line_number, line in enumerate(lines, 1):
                if line_number == wanted:  # a whole record, read in the first pass
                    output.write_line(line)
                    wanted = next(chosen, None)
    urls: int = db.execute("SELECT count(*) FROM best").fetchone()[0]
    return urls


def _ranked(
    file_index: int, path: Path, on_bad_line: Callable[[str], None]
) -> Iterator[tuple[bytes, int, float, int, int]]:
    for line_number, record in _records(path, on_bad_line):
        try:
            url = canonical_url(fetchable_url(record["url"]))
        except ValueError:
            url = record["url"]  # recorded as skipped or failed: its text is its key
        unchanged = (record.get("recrawl") or {}).get("change") == "unchanged"
        rank = (0 if record.get("status") is not None else 2) + unchanged
        yield fingerprint(url), rank, record.get("fetched_at") or 0.0, file_index, line_number


def _records(
    path: Path, on_bad_line: Callable[[str], None]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The file's whole records; a torn last line (a killed worker's) was never final."""
    with _opened(path) as lines:
        for line_number, line in enumerate(lines, 1):
            if not line.endswith(b"\n"):
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                record = None
            if isinstance(record, dict) and isinstance(record.get("url"), str):
                yield line_number, record
            else:
                on_bad_line(f"{path}:{line_number}: not a corocrawl record, skipped")


def _opened(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
