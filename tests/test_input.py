"""read_requests over real files and pipes: good lines yielded in order, bad lines reported once."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import threading
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import cast

import pytest

from corocrawl import ConfigError, Request
from corocrawl._input import (
    MAX_LINE_BYTES,
    BadLine,
    count_url_lines,
    open_url_source,
    read_requests,
)

TOO_LONG = f"longer than {MAX_LINE_BYTES} bytes"


def opened(path: Path | int) -> io.BufferedIOBase:
    """A file or pipe end opened the way corocrawl opens its input; read_requests closes it."""
    return open(path, "rb")


def no_bad_lines(bad: BadLine) -> None:
    pytest.fail(f"unexpected bad line: {bad}")


async def read_all(stream: io.BufferedIOBase, source: str) -> tuple[list[Request], list[BadLine]]:
    bad: list[BadLine] = []
    requests = [request async for request in read_requests(stream, source, bad.append)]
    return requests, bad


async def read_file(path: Path) -> tuple[list[Request], list[BadLine]]:
    return await read_all(opened(path), str(path))


@contextlib.contextmanager
def pipe_fed_by_thread(chunks: list[bytes]) -> Iterator[io.BufferedIOBase]:
    """The read end of an os.pipe(), written chunk by chunk by a thread that then closes it."""
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        try:
            for chunk in chunks:
                os.write(write_fd, chunk)
        finally:
            os.close(write_fd)

    writer = threading.Thread(target=feed, name="test-pipe-writer")
    writer.start()
    stream = opened(read_fd)
    try:
        yield stream
    finally:
        writer.join(timeout=10)
        stream.close()


def urls(requests: list[Request]) -> list[str]:
    return [request.url for request in requests]


def seqs(requests: list[Request]) -> list[int]:
    return [request.position for request in requests]


# -- good lines -----------------------------------------------------------------------------


async def test_blank_lines_and_comments_are_skipped_without_reports(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(
        b"# a list of URLs\n"
        b"\n"
        b"http://a.example/1\n"
        b"   \t \n"
        b"  # an indented comment\n"
        b"#http://commented.example/\n"
        b"https://b.example/2\n"
        b"\n"
    )
    requests, bad = await read_file(path)
    assert urls(requests) == ["http://a.example/1", "https://b.example/2"]
    assert seqs(requests) == [0, 1]
    assert bad == []


async def test_surrounding_white_space_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(b"   http://a.example/x  \n\thttp://b.example/y\t\n")
    requests, bad = await read_file(path)
    assert urls(requests) == ["http://a.example/x", "http://b.example/y"]
    assert bad == []


async def test_crlf_line_endings_are_read_like_lf(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(b"http://a.example/1\r\n# note\r\n\r\nnot a url\r\nhttp://b.example/2\r\n")
    requests, bad = await read_file(path)
    assert urls(requests) == ["http://a.example/1", "http://b.example/2"]
    assert seqs(requests) == [0, 1]
    assert [(line.line, line.text) for line in bad] == [(4, "not a url")]


async def test_last_line_without_trailing_newline_is_yielded(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(b"http://a.example/1\nhttp://b.example/2")
    requests, bad = await read_file(path)
    assert urls(requests) == ["http://a.example/1", "http://b.example/2"]
    assert bad == []


async def test_empty_file_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert await read_file(path) == ([], [])


async def test_file_is_closed_after_reading(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(b"http://a.example/\n")
    stream = opened(path)
    requests, _ = await read_all(stream, str(path))
    assert len(requests) == 1
    assert stream.closed


# -- bad lines ------------------------------------------------------------------------------


async def test_each_bad_line_is_reported_once_with_its_line_number(tmp_path: Path) -> None:
    too_long = b"http://long.example/" + b"a" * MAX_LINE_BYTES
    path = tmp_path / "urls.txt"
    lines = [
        b"http://ok.example/0",  # 1
        b"/relative/path",  # 2
        b"ftp://files.example/x",  # 3
        b"# comment",  # 4
        b"mailto:someone@example.com",  # 5
        b"http://ok.example/1",  # 6
        b"text with spaces",  # 7
        b"http://bad.example/\xff\xfe",  # 8
        b"",  # 9
        too_long,  # 10
        b"http://ok.example/2",  # 11
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    requests, bad = await read_file(path)

    assert urls(requests) == ["http://ok.example/0", "http://ok.example/1", "http://ok.example/2"]
    assert seqs(requests) == [0, 1, 2]
    assert [line.line for line in bad] == [2, 3, 5, 7, 8, 10]
    assert all(line.source == str(path) for line in bad)
    by_line = {line.line: line for line in bad}
    assert by_line[2].text == "/relative/path"
    assert "absolute" in by_line[2].reason
    assert "'ftp'" in by_line[3].reason
    assert "'mailto'" in by_line[5].reason
    assert "white space" in by_line[7].reason
    assert by_line[8].reason == "not UTF-8"
    assert by_line[8].text == "http://bad.example/\\xff\\xfe"
    assert by_line[10].reason == TOO_LONG
    assert len(by_line[10].text) <= 200


async def test_bad_line_str_names_source_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(b"http://ok.example/\njavascript:alert(1)\n")
    _, bad = await read_file(path)
    assert len(bad) == 1
    assert str(bad[0]) == (
        f"{path}:2: scheme 'javascript' is not fetched (only http and https): 'javascript:alert(1)'"
    )


async def test_line_of_exactly_max_line_bytes_is_accepted(tmp_path: Path) -> None:
    prefix = b"http://edge.example/"
    url = prefix + b"a" * (MAX_LINE_BYTES - len(prefix))
    assert len(url) == MAX_LINE_BYTES
    path = tmp_path / "urls.txt"
    path.write_bytes(url + b"\n" + url + b"b\n")
    requests, bad = await read_file(path)
    assert urls(requests) == [url.decode()]
    assert [(line.line, line.reason) for line in bad] == [(2, TOO_LONG)]


async def test_line_longer_than_a_read_chunk_is_reported_once(tmp_path: Path) -> None:
    # 300 kB without a newline spans several reads; it must still count as one line.
    huge = b"http://huge.example/" + b"x" * 300_000
    path = tmp_path / "urls.txt"
    path.write_bytes(b"http://a.example/\n" + huge + b"\nhttp://b.example/\n")
    requests, bad = await read_file(path)
    assert urls(requests) == ["http://a.example/", "http://b.example/"]
    assert seqs(requests) == [0, 1]
    assert [(line.line, line.reason) for line in bad] == [(2, TOO_LONG)]


async def test_endless_last_line_without_newline_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(b"http://a.example/\n" + b"y" * 200_000)
    requests, bad = await read_file(path)
    assert urls(requests) == ["http://a.example/"]
    assert [(line.line, line.reason) for line in bad] == [(2, TOO_LONG)]


# -- pipes and size -------------------------------------------------------------------------


async def test_pipe_fed_in_pieces_is_read_whole_and_in_order() -> None:
    chunks = [
        b"http://a.example/1\nhttp://b.exa",  # a line split across writes
        b"mple/2\n# comment\n",
        b"not a url\n",
        b"http://c.example/3\r\n",
        b"http://d.example/4",  # no trailing newline before EOF
    ]
    with pipe_fed_by_thread(chunks) as stream:
        requests, bad = await read_all(stream, "<pipe>")
    assert urls(requests) == [
        "http://a.example/1",
        "http://b.example/2",
        "http://c.example/3",
        "http://d.example/4",
    ]
    assert seqs(requests) == [0, 1, 2, 3]
    assert [(line.source, line.line, line.text) for line in bad] == [("<pipe>", 4, "not a url")]


async def test_pipe_with_many_lines_is_read_completely() -> None:
    expected = [f"http://h{i % 7}.example/{i}" for i in range(20_000)]
    lines = [f"{url}\n".encode() for url in expected]
    chunks = [b"".join(lines[i : i + 997]) for i in range(0, len(lines), 997)]
    with pipe_fed_by_thread(chunks) as stream:
        requests, bad = await read_all(stream, "<pipe>")
    assert urls(requests) == expected
    assert seqs(requests) == list(range(20_000))
    assert bad == []


async def test_file_of_100000_lines_is_streamed_completely(tmp_path: Path) -> None:
    path = tmp_path / "many.txt"
    with path.open("wb") as out:
        for i in range(100_000):
            out.write(b"http://host%d.example/page/%d\n" % (i % 100, i))
    count = 0
    expected_seq = 0
    last = ""
    async for request in read_requests(opened(path), str(path), no_bad_lines):
        assert request.position == expected_seq
        expected_seq += 1
        count += 1
        last = request.url
    assert count == 100_000
    assert last == "http://host99.example/page/99999"


async def test_closing_early_does_not_wait_for_an_idle_pipe_writer() -> None:
    read_fd, write_fd = os.pipe()
    giving_up = threading.Event()
    release = threading.Event()

    def feed() -> None:
        os.write(write_fd, b"http://a.example/1\n")
        release.wait(timeout=1.5)  # an idle writer: neither writes nor closes for a while
        giving_up.set()
        os.close(write_fd)

    writer = threading.Thread(target=feed, name="test-idle-writer")
    writer.start()
    try:
        requests = cast(
            AsyncGenerator[Request, None], read_requests(opened(read_fd), "<pipe>", no_bad_lines)
        )
        first = await anext(requests)
        assert first.url == "http://a.example/1"
        await asyncio.sleep(0.1)  # let the reader thread go back to waiting on the pipe
        await requests.aclose()
        # aclose() must return while the writer is still idle, not because it gave up.
        assert not giving_up.is_set()
    finally:
        release.set()
        writer.join(timeout=10)


# -- open_url_source and count_url_lines ----------------------------------------------------


def test_open_url_source_opens_a_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(b"http://a.example/\n")
    stream, source = open_url_source(str(path))
    with stream:
        assert source == str(path)
        assert stream.read() == b"http://a.example/\n"


def test_open_url_source_on_a_missing_file_raises_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file.txt"
    with pytest.raises(ConfigError, match=r"no-such-file\.txt") as caught:
        open_url_source(str(missing))
    assert "No such file or directory" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_open_url_source_on_a_directory_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read input file"):
        open_url_source(str(tmp_path))


def test_count_url_lines_counts_lines_that_are_not_blank_or_comments(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(
        b"# header\n"
        b"http://a.example/\n"
        b"\n"
        b"   \r\n"
        b"not a url but still a line\n"
        b"  # indented comment\n"
        b"https://b.example/"
    )
    assert count_url_lines(str(path)) == 3


def test_count_url_lines_of_an_empty_file_is_zero(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert count_url_lines(str(path)) == 0
