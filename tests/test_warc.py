"""WARC output (`--warc`), read back by an independent reader: warcio's ArchiveIterator, and
`warcio check` for the digests."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import warcio_check
from surt import surt
from warcio.archiveiterator import ArchiveIterator

from corocrawl import Exchange, FetchResult, WarcWriter
from corocrawl._config import TRANSPORT_NAMES
from corocrawl._engine.replay_transport import ArchiveIndex, warc_files
from corocrawl._warc import read_record_at, read_records
from corocrawl.testing import ServerProcess, TestProxy

PATTERN = bytes(range(256))


def corocrawl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corocrawl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def records_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def warc_records(path: Path) -> list[Any]:
    """(type, target URI, status, payload, WARC headers) of every record, in order."""
    found = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            status = record.http_headers.get_statuscode() if record.http_headers else None
            payload = record.content_stream().read()
            found.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI"),
                          status, payload, record.rec_headers))  # fmt: skip
    return found


def record_at(path: Path, offset: int) -> Any:
    with path.open("rb") as stream:
        stream.seek(offset)
        record = next(iter(ArchiveIterator(stream)))
        return record.rec_headers.get_header("WARC-Target-URI"), record.content_stream().read()


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_fetch_writes_every_exchange_to_a_warc_that_an_independent_reader_accepts(
    server: ServerProcess, tmp_path: Path, transport: str, workers: str
) -> None:
    urls = [f"{server.url}/redirect/2", f"{server.url}/encoded/gzip", f"{server.url}/status/404",
            f"{server.url}/bytes/70000?chunked", "http://127.0.0.1:1/"]  # fmt: skip
    out, warc = tmp_path / "out.jsonl", tmp_path / "crawl.warc.gz"
    done = corocrawl("fetch", "-", "-o", str(out), "--warc", str(warc), "-q",
                     "--transport", transport, "--retries", "0", "--workers", workers,
                     stdin="\n".join(urls))  # fmt: skip
    assert done.returncode == 0, done.stderr
    checked = warcio_check(warc)
    assert checked.returncode == 0, checked.stdout
    assert "digest pass" in checked.stdout
    found = warc_records(warc)
    assert found[0][0] == "warcinfo"
    assert found[0][4].get_header("WARC-Filename") == "crawl.warc.gz"
    responses = {uri: (status, payload) for kind, uri, status, payload, _ in found
                 if kind == "response"}  # fmt: skip
    # Every hop of a redirect is archived, each with its request, linked to its response.
    hops = [f"{server.url}/redirect/{n}" for n in (2, 1, 0)]
    assert [responses[hop][0] for hop in hops] == ["302", "302", "200"]
    ids = {headers.get_header("WARC-Record-ID"): uri for kind, uri, _, _, headers in found
           if kind == "response"}  # fmt: skip
    requests = [(uri, headers.get_header("WARC-Concurrent-To")) for kind, uri, _, _, headers
                in found if kind == "request"]  # fmt: skip
    assert all(ids[response] == uri for uri, response in requests)
    assert len(requests) == len(ids) == 3 + 3  # no record for the URL that got no answer
    # The body as received (gzip and chunks alike): the reader undoes them and finds it whole.
    assert responses[f"{server.url}/encoded/gzip"][1] == (PATTERN * 4000)
    assert responses[f"{server.url}/bytes/70000?chunked"][1] == (PATTERN * 274)[:70000]
    # Each record of the output points at its final response.
    by_url = {record["url"]: record for record in records_in(out)}
    assert "warc" not in by_url["http://127.0.0.1:1/"]
    pointer = by_url[f"{server.url}/redirect/2"]["warc"]
    assert pointer["file"] == "crawl.warc.gz"
    assert record_at(warc, pointer["offset"]) == (f"{server.url}/redirect/0", b"Hello!")


def test_the_archived_body_is_the_one_sent_before_its_encoding_is_undone(
    server: ServerProcess, tmp_path: Path
) -> None:
    warc = tmp_path / "a.warc.gz"
    done = corocrawl("fetch", "-", "-o", str(tmp_path / "out.jsonl"), "--warc", str(warc), "-q",
                     stdin=f"{server.url}/encoded/gzip\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    with warc.open("rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type == "response":
                assert record.http_headers.get_header("Content-Encoding") == "gzip"
                raw = record.raw_stream.read()
                digest = record.rec_headers.get_header("WARC-Payload-Digest")
    assert gzip.decompress(raw) == PATTERN * 4000
    assert digest == "sha1:" + base64.b32encode(hashlib.sha1(raw).digest()).decode()


def test_a_warc_rolls_over_past_its_size_and_a_second_run_starts_a_new_file(
    server: ServerProcess, tmp_path: Path
) -> None:
    warc = tmp_path / "crawl.warc.gz"
    urls = "".join(f"{server.url}/bytes/3000?n={n}\n" for n in range(6))
    for _ in range(2):
        done = corocrawl("fetch", "-", "-o", str(tmp_path / "out.jsonl"), "--warc", str(warc),
                         "--warc-max-size", "4k", "-q", stdin=urls)  # fmt: skip
        assert done.returncode == 0, done.stderr
    files = sorted(path.name for path in tmp_path.glob("*.warc.gz"))
    assert files[0] == "crawl-00001.warc.gz"
    assert "crawl.warc.gz" in files
    assert len(files) >= 4  # each run: more than one file, and the second never appended
    responses = 0
    for path in tmp_path.glob("*.warc.gz"):
        found = warc_records(path)
        assert found[0][0] == "warcinfo"  # every file opens with its own
        responses += sum(kind == "response" for kind, *_ in found)
    assert responses == 12


def test_a_body_cut_at_the_cap_is_marked_truncated(tmp_path: Path) -> None:
    exchange = Exchange(
        url="http://example.org/big",
        sent_at=1_800_000_000.0,
        request=b"GET /big HTTP/1.1\r\nHost: example.org\r\n\r\n",
        response=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        body=b"x" * 100,
        truncated=True,
        address="192.0.2.7",
    )
    path = tmp_path / "cut.warc.gz"
    with WarcWriter(path) as writer:
        where = writer.write(FetchResult("http://example.org/big", exchanges=(exchange,)))
    assert where == {"file": "cut.warc.gz", "offset": where["offset"], "length": where["length"]}
    (response,) = [r for r in warc_records(path) if r[0] == "response"]
    headers = response[4]
    assert headers.get_header("WARC-Truncated") == "length"
    assert headers.get_header("WARC-IP-Address") == "192.0.2.7"
    assert headers.get_header("WARC-Date") == "2027-01-15T08:00:00.000000Z"
    assert response[3] == b"x" * 100  # the chunked header is kept under another name
    assert WarcWriter(path).write(FetchResult("http://example.org/none")) is None


def test_a_shared_crawl_with_warc_is_a_clear_error() -> None:
    done = corocrawl("crawl", "--frontier", "redis://127.0.0.1:1/0", "--crawl-id", "x",
                     "--warc", "x.warc.gz", "http://127.0.0.1:1/")  # fmt: skip
    assert done.returncode == 2
    assert "--warc is not written by a shared crawl yet" in done.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_crawl_killed_and_resumed_archives_every_page_it_records(
    start_server: Any, tmp_path: Path, workers: str
) -> None:
    site = start_server("--site-pages", "300", "--site-links", "4")
    out, state, warc = tmp_path / "pages.jsonl", tmp_path / "crawl.db", tmp_path / "site.warc.gz"
    index = tmp_path / "site.cdxj"
    crawl = [sys.executable, "-m", "corocrawl", "crawl", f"{site.url}/site/0", "-o", str(out),
             "--state", str(state), "-q", "--warc", str(warc), "--ignore-robots",
             "--concurrency", "2", "--workers", workers, "--cdx", str(index)]  # fmt: skip
    first = subprocess.Popen(crawl, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 20:
            break
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    again = subprocess.run(crawl, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "site-00001.warc.gz").exists()  # the first file is left as it was
    fetched = [record for record in records_in(out) if record["status"] == 200]
    assert len(fetched) == 300
    for record in fetched:  # each record leads to its page's bytes
        pointer = record["warc"]
        uri, payload = record_at(tmp_path / pointer["file"], pointer["offset"])
        assert uri == record["url"]
        assert len(payload) == record["bytes"]
    archived = {r[1] for path in tmp_path.glob("*.warc.gz") for r in warc_records(path)
                if r[0] == "response"}  # fmt: skip
    assert archived == {record["url"] for record in fetched}
    # The index: sorted, each line leading to its record, the killed run's lines kept, and
    # every record an output record points to indexed (its line is stored before it is).
    lines = index.read_bytes().splitlines()
    assert lines == sorted(lines)
    assert not (tmp_path / "site.cdxj.part").exists()
    indexed = set()
    for line in lines:
        key, stamp, fields = line.decode().split(" ", 2)
        entry = json.loads(fields)
        assert key == surt(entry["url"])  # the key pywb looks the URL up by
        assert stamp.isdigit()
        assert len(stamp) == 14
        assert record_at(tmp_path / entry["filename"], int(entry["offset"]))[0] == entry["url"]
        indexed.add((entry["filename"], int(entry["offset"])))
    responses = {(path.name, offset) for path in tmp_path.glob("*.warc.gz")
                 for offset, record in read_records(path) if record.type == "response"}  # fmt: skip
    assert indexed <= responses
    assert {(record["warc"]["file"], record["warc"]["offset"]) for record in fetched} <= indexed


def test_a_record_a_kill_broke_off_is_cut_before_the_next_run_writes(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    result = hand_made("http://example.org/", b"page" * 1000)
    with WarcWriter(path) as writer:
        writer.write(result)
    whole = path.read_bytes()
    path.write_bytes(whole + whole[:200])  # the start of a record, as a kill leaves it
    with WarcWriter(path) as writer:
        writer.write(result)
    assert path.read_bytes() == whole
    assert [r[0] for r in warc_records(path)] == ["warcinfo", "response", "request"]
    assert next(r[0] for r in warc_records(tmp_path / "crawl-00001.warc.gz")) == "warcinfo"


def hand_made(url: str, body: bytes) -> FetchResult:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    exchange = Exchange(url, 1_800_000_000.0, b"GET / HTTP/1.1\r\n\r\n", head, body)
    return FetchResult(url, exchanges=(exchange,))


def test_a_file_that_is_not_corocrawls_is_never_cut(tmp_path: Path) -> None:
    path = tmp_path / "theirs.warc.gz"
    path.write_bytes(b"WARC/1.0\r\nnot gzip, another tool's file")
    with WarcWriter(path) as writer:
        writer.write(hand_made("http://example.org/", b"page"))
    assert path.read_bytes() == b"WARC/1.0\r\nnot gzip, another tool's file"
    assert writer.files == [tmp_path / "theirs-00001.warc.gz"]


def test_a_file_compressed_whole_is_refused_not_read_as_one_record(tmp_path: Path) -> None:
    ours = tmp_path / "ours.warc.gz"
    with WarcWriter(ours) as writer:
        writer.write(hand_made("http://example.org/", b"page"))
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(gzip.decompress(ours.read_bytes())))
    with pytest.raises(ValueError, match="more than one record in the gzip member at offset 0"):
        list(read_records(whole))


def test_warc_options_that_cannot_work_are_clear_errors(
    server: ServerProcess, tmp_path: Path
) -> None:
    done = corocrawl("fetch", "-", "--warc", str(tmp_path / "a.warc.gz"), "--warc-max-size", "0",
                     stdin=f"{server.url}/\n")  # fmt: skip
    assert done.returncode == 2
    assert "'0': must be at least 1 byte" in done.stderr
    # Refused before the first request, not after the fetching.
    server.reset_stats()
    (tmp_path / "file").write_text("")
    unwritable = corocrawl("fetch", "-", "--warc", str(tmp_path / "file" / "a.warc.gz"), "-q",
                           stdin=f"{server.url}/\n")  # fmt: skip
    assert unwritable.returncode == 2
    assert "--warc" in unwritable.stderr
    assert "no such directory" in unwritable.stderr
    assert server.stats()["by_path"] == {}
    same = corocrawl("fetch", "-", "-o", str(tmp_path / "new.warc.gz"), "--warc",
                     str(tmp_path / "new.warc.gz"), stdin=f"{server.url}/\n")  # fmt: skip
    assert same.returncode == 2
    assert "is the same file as" in same.stderr
    with WarcWriter(tmp_path / "same.warc.gz") as writer:  # an archive: -o must not destroy it
        writer.write(hand_made("http://example.org/", b"page"))
    archive = str(tmp_path / "same.warc.gz")
    crossed = corocrawl("fetch", "-", "-o", archive, "--replay", archive,
                        stdin=f"{server.url}/\n")  # fmt: skip
    assert crossed.returncode == 2
    assert "is the same file as" in crossed.stderr


def test_a_directory_is_replayed_in_the_order_its_files_were_written(tmp_path: Path) -> None:
    for body in (b"old", b"new"):  # a second run starts crawl-00001.warc.gz
        with WarcWriter(tmp_path / "crawl.warc.gz") as writer:
            writer.write(hand_made("http://example.org/", body))
    index = ArchiveIndex.build(warc_files([tmp_path]))
    try:
        found = index.find("http://example.org/")
        assert found is not None
        assert read_record_at(*found).block.endswith(b"\r\n\r\nnew")
    finally:
        index.close()


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_a_proxys_password_is_never_written_to_the_warc(
    server: ServerProcess, tmp_path: Path, transport: str
) -> None:
    secret = "s3cret-for-the-warc"
    with TestProxy("http", credentials=("user", secret)) as proxy:
        warc = tmp_path / "p.warc.gz"
        done = corocrawl("fetch", "-", "-q", "-o", str(tmp_path / "out.jsonl"), "--warc",
                         str(warc), "--proxy", proxy.url, "--transport", transport,
                         stdin=f"{server.url}/status/200\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    requests = [r for r in warc_records(warc) if r[0] == "request"]
    assert len(requests) == 1
    everything = gzip.decompress(warc.read_bytes())
    assert b"GET " in everything
    token = base64.b64encode(f"user:{secret}".encode())
    assert secret.encode() not in everything
    assert token not in everything
    assert b"roxy-Authorization" not in everything


def test_cdx_and_warc_max_size_are_for_warc(tmp_path: Path) -> None:
    for option, value in (("--cdx", str(tmp_path / "index.cdxj")), ("--warc-max-size", "1MB")):
        done = corocrawl("fetch", "-", option, value, stdin="http://127.0.0.1:1/\n")
        assert done.returncode == 2
        assert f"{option} is for --warc: give --warc too" in done.stderr


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
@pytest.mark.parametrize("chunked", ["", "?chunked"])
def test_a_body_over_max_bytes_is_archived_cut_and_marked_and_recorded_as_too_large(
    server: ServerProcess, tmp_path: Path, transport: str, chunked: str
) -> None:
    out, warc = tmp_path / "out.jsonl", tmp_path / "big.warc.gz"
    url = f"{server.url}/bytes/200000{chunked}"
    done = corocrawl("fetch", "-", "-o", str(out), "--warc", str(warc), "-q", "--max-bytes",
                     "50000", "--transport", transport, stdin=url + "\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    (record,) = records_in(out)
    assert record["error"]["type"] == "ResponseTooLarge"
    assert "archived cut there" in record["error"]["message"]
    kind, uri, status, payload, headers = warc_records(warc)[1]
    assert (kind, uri, status) == ("response", url, "200")
    assert headers.get_header("WARC-Truncated") == "length"
    assert 50_000 <= len(payload) < 200_000  # what came before the cut (a read may overshoot)
    assert record["warc"]["offset"] > 0
    checked = warcio_check(warc)
    assert checked.returncode == 0, checked.stdout


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_crawl_archives_the_robots_txt_it_read(
    start_server: Any, tmp_path: Path, workers: str
) -> None:
    rules = tmp_path / "robots.txt"
    rules.write_text("User-agent: *\nDisallow: /site/7\n")
    site = start_server("--site-pages", "30", "--robots-file", str(rules))
    out, warc = tmp_path / "pages.jsonl", tmp_path / "site.warc.gz"
    done = corocrawl("crawl", f"{site.url}/site/0", "-o", str(out), "-q", "--warc", str(warc),
                     "--workers", workers)  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = warc_records(warc)
    robots = [r for r in found if r[0] == "response" and r[1].endswith("/robots.txt")]
    assert len(robots) == 1  # read once, archived once
    assert b"Disallow: /site/7" in robots[0][3]
    assert [r for r in found if r[0] == "request" and r[1].endswith("/robots.txt")]
    assert any(record.get("skip") == "robots" for record in records_in(out))


def test_a_replayed_body_over_max_bytes_is_still_refused_with_a_warc(
    server: ServerProcess, tmp_path: Path
) -> None:
    archive = tmp_path / "first.warc.gz"
    url = f"{server.url}/bytes/5000"
    done = corocrawl("fetch", "-", "-o", str(tmp_path / "a.jsonl"), "--warc", str(archive),
                     "-q", stdin=url + "\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    again = corocrawl("fetch", "-", "-o", str(tmp_path / "b.jsonl"), "--replay", str(archive),
                      "--replay-only", "--max-bytes", "1000", "--warc",
                      str(tmp_path / "second.warc.gz"), "-q", stdin=url + "\n")  # fmt: skip
    assert again.returncode == 0, again.stderr
    (record,) = records_in(tmp_path / "b.jsonl")
    assert record["error"]["type"] == "ResponseTooLarge"


def test_a_writer_nobody_flushes_holds_a_bounded_number_of_index_lines(tmp_path: Path) -> None:
    index = tmp_path / "crawl.cdxj"
    writer = WarcWriter(tmp_path / "crawl.warc.gz", cdx=index)
    for number in range(10_001):
        writer.write(hand_made(f"http://example.org/{number}", b"page"))
    part = tmp_path / "crawl.cdxj.part"
    stored = part.read_bytes().splitlines()
    assert len(stored) >= 10_000  # flushed at the bound, without a flush() from outside
    last = json.loads(stored[-1].split(b" ", 2)[2])
    size = (tmp_path / "crawl.warc.gz").stat().st_size
    assert int(last["offset"]) + int(last["length"]) <= size  # its record was on disk first
    writer.close()
    assert len(index.read_bytes().splitlines()) == 10_001
