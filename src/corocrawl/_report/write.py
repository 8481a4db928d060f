"""`write_report`: records in, one HTML file out, reading each input once."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .._exceptions import ConfigError, SinkError
from .aggregate import Aggregate
from .html import render
from .records import read_rows

__all__ = ["ReportSummary", "write_report"]


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """The totals of a report written by `write_report`. `fetched` records got a response
    (`http_errors` of them 4xx or 5xx), `failed` got none, `skipped` were not fetched;
    `broken` is `http_errors + failed`; `bad_lines` were no records, and skipped."""

    records: int
    fetched: int
    http_errors: int
    failed: int
    skipped: int
    bytes: int
    broken: int
    redirect_loops: int
    bad_lines: int
    output: str


def write_report(
    inputs: Iterable[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    on_bad_line: Callable[[str], None] | None = None,
) -> ReportSummary:
    """Read the records of corocrawl's outputs (`fetch` or `crawl`, JSON Lines or CSV by a
    `.csv` name, '-' for JSON Lines on stdin) once each, in memory that does not grow with
    them, and write one self-contained HTML report to `output` ('-' for stdout).

        summary = corocrawl.write_report(["pages.jsonl"], "report.html")
        print(summary.records, summary.broken)

    A line that is no record is passed to `on_bad_line` as `FILE:LINE: why` and skipped. A
    missing input, or an output that is one of the inputs, is a ConfigError; an output that
    cannot be written is a SinkError (the report is written whole or not at all).
    """
    sources = [str(path) for path in inputs]
    target = str(output)
    if not sources:
        raise ConfigError("no input files of records given")
    _refuse_overwriting_an_input(sources, target)
    bad_lines = 0

    def bad(line: str) -> None:
        nonlocal bad_lines
        bad_lines += 1
        if on_bad_line is not None:
            on_bad_line(line)

    data = Aggregate()
    for source in sources:
        for row in read_rows(source, bad):
            data.add(row)
    redirects = data.summary_of_redirects()
    page = render(data, redirects, sources=sources, bad_lines=bad_lines)
    _write_whole(target, page.encode())
    return ReportSummary(
        records=data.records,
        fetched=data.fetched,
        http_errors=data.http_errors,
        failed=data.failed,
        skipped=data.skipped,
        bytes=data.size,
        broken=data.broken_total,
        redirect_loops=redirects.loops,
        bad_lines=bad_lines,
        output=target,
    )


def _refuse_overwriting_an_input(sources: list[str], target: str) -> None:
    if target == "-":
        return
    try:
        made = os.stat(target)
    except OSError:
        return
    for source in sources:
        if source == "-":
            continue
        try:
            read = os.stat(source)
        except OSError:
            continue
        if (read.st_dev, read.st_ino) == (made.st_dev, made.st_ino):
            raise ConfigError(f"the report {target!r} would overwrite its input {source!r}")


def _write_whole(target: str, page: bytes) -> None:
    """`page` to `target` through a temporary file beside it, so that a reader never sees
    half a report, and a failure leaves what was there."""
    if target == "-":
        sys.stdout.buffer.write(page)
        sys.stdout.buffer.flush()
        return
    path = Path(target)
    if path.is_dir():
        raise ConfigError(f"the report {target!r} is a directory")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise SinkError(f"cannot write the report {target!r}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(page)
        os.chmod(temporary, 0o666 & ~_umask())  # as open() would have made it
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise SinkError(f"cannot write the report {target!r}: {exc.strerror}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
