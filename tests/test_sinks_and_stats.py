"""JsonlSink, BodyStore, LatencyHistogram and Stats, on real files and real numbers."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import random
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from corocrawl import ConfigError, ErrorInfo, FetchResult, SinkError, Stats, StatsSnapshot
from corocrawl._engine.bodies import BodyStore
from corocrawl._outputs import open_sink
from corocrawl._sinks import CsvSink, JsonlSink
from corocrawl._stats import LatencyHistogram
from corocrawl.testing import ServerProcess

DEV_FULL = Path("/dev/full")

# -- JsonlSink ------------------------------------------------------------------------------


def test_jsonl_sink_writes_one_json_object_per_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    records: list[dict[str, object]] = [
        {"url": "http://a.example/", "status": 200, "headers": {"etag": '"x"'}},
        {"url": "http://b.example/\u00e9", "status": None, "error": {"type": "ReadError"}},
        {"text": 'line\nbreak and "quotes"', "n": 1.5},
    ]
    sink = JsonlSink(out)
    for record in records:
        sink.write(record)
    assert sink.written == 3
    sink.close()

    data = out.read_bytes()
    assert data.endswith(b"\n")
    lines = data.split(b"\n")[:-1]
    assert [json.loads(line) for line in lines] == records


def test_jsonl_sink_output_is_complete_after_close(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    sink = JsonlSink(str(out))
    for i in range(5000):  # more than one 64 KiB flush
        sink.write({"seq": i, "url": f"http://host.example/{i}", "pad": "x" * 20})
    sink.close()
    lines = out.read_text().splitlines()
    assert sink.written == 5000
    assert [json.loads(line)["seq"] for line in lines] == list(range(5000))


def test_jsonl_sink_flush_writes_what_is_buffered(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    sink = JsonlSink(out)
    try:
        sink.write({"a": 1})
        sink.flush()
        assert out.read_bytes() == b'{"a":1}\n'
    finally:
        sink.close()


def test_jsonl_sink_with_no_records_leaves_an_empty_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    sink = JsonlSink(out)
    sink.close()
    assert sink.written == 0
    assert out.read_bytes() == b""


def test_jsonl_sink_that_cannot_open_its_output_raises_sink_error(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match=r"cannot open output .*No such file or directory"):
        JsonlSink(tmp_path / "missing-dir" / "out.jsonl")


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full")
def test_jsonl_sink_on_a_full_disk_raises_sink_error_at_flush() -> None:
    sink = JsonlSink(DEV_FULL)
    sink.write({"url": "http://a.example/"})
    with pytest.raises(SinkError, match="No space left on device") as caught:
        sink.flush()
    assert not isinstance(caught.value, OSError)
    assert "/dev/full" in str(caught.value)
    # Lines were lost: the sink stays failed, so nothing later passes for safely written.
    with pytest.raises(SinkError):
        sink.write({"url": "http://b.example/"})
    with pytest.raises(SinkError):
        sink.close()


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full")
def test_jsonl_sink_on_a_full_disk_raises_sink_error_at_close() -> None:
    sink = JsonlSink(DEV_FULL)
    sink.write({"url": "http://a.example/"})  # buffered: under 64 KiB and 1 s, so not flushed
    with pytest.raises(SinkError, match="No space left on device"):
        sink.close()


# -- BodyStore ------------------------------------------------------------------------------


def test_body_store_saves_bytes_under_a_shard_named_by_sha256(tmp_path: Path) -> None:
    body = b"<html>hello</html>"
    digest = hashlib.sha256(body).hexdigest()
    path = BodyStore(tmp_path / "bodies").save(body)
    assert path == str(tmp_path / "bodies" / digest[:2] / digest)
    assert Path(path).read_bytes() == body


def test_body_store_returns_the_same_path_for_identical_bodies(tmp_path: Path) -> None:
    store = BodyStore(tmp_path)
    first = store.save(b"same body")
    second = store.save(b"same body")
    other = store.save(b"other body")
    assert first == second
    assert other != first
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        hashlib.sha256(body).hexdigest() for body in (b"same body", b"other body")
    )


def test_body_store_saves_an_empty_body(tmp_path: Path) -> None:
    path = Path(BodyStore(tmp_path).save(b""))
    assert path.name == hashlib.sha256(b"").hexdigest()
    assert path.read_bytes() == b""


def test_body_store_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = BodyStore(tmp_path)
    bodies = [os.urandom(n) for n in (1, 10, 1000, 100_000)] + [b"dup"] * 3
    with ThreadPoolExecutor(max_workers=4) as pool:
        paths = list(pool.map(store.save, bodies))
    for body, path in zip(bodies, paths, strict=True):
        assert Path(path).read_bytes() == body
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []
    assert len({*paths}) == 5


def test_a_second_store_on_the_same_directory_finds_existing_bodies(tmp_path: Path) -> None:
    first = BodyStore(tmp_path).save(b"kept across runs")
    second = BodyStore(tmp_path).save(b"kept across runs")
    assert first == second
    assert Path(second).read_bytes() == b"kept across runs"


# -- LatencyHistogram -----------------------------------------------------------------------


def exact_percentile(sorted_samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least `fraction` at or below it."""
    rank = max(1, math.ceil(fraction * len(sorted_samples)))
    return sorted_samples[rank - 1]


@pytest.mark.parametrize("fraction", [0.001, 0.1, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0])
def test_histogram_percentiles_are_within_two_percent_of_the_exact_ones(fraction: float) -> None:
    samples = [ms / 1000 for ms in range(1, 1001)]  # 1 ms .. 1000 ms
    shuffled = samples[:]
    random.Random(2024).shuffle(shuffled)
    histogram = LatencyHistogram()
    for seconds in shuffled:
        histogram.add(seconds)
    assert histogram.count == 1000
    got = histogram.percentile(fraction)
    assert got is not None
    exact = exact_percentile(samples, fraction)
    assert abs(got - exact) <= 0.02 * exact


def test_histogram_is_accurate_over_a_wide_log_normal_sample() -> None:
    rng = random.Random(7)
    samples = sorted(rng.lognormvariate(math.log(0.05), 1.5) for _ in range(5000))
    histogram = LatencyHistogram()
    for seconds in samples:
        histogram.add(seconds)
    for fraction in (0.5, 0.95, 0.99):
        got = histogram.percentile(fraction)
        assert got is not None
        exact = exact_percentile(samples, fraction)
        assert abs(got - exact) <= 0.02 * exact


def test_empty_histogram_has_no_percentiles() -> None:
    histogram = LatencyHistogram()
    assert histogram.count == 0
    assert histogram.percentile(0.5) is None
    assert histogram.percentile(0.99) is None


def test_histogram_keeps_tiny_and_huge_latencies_without_error() -> None:
    histogram = LatencyHistogram()
    for seconds in (0.0, 1e-9, 5 * 86400.0):
        histogram.add(seconds)
    low = histogram.percentile(0.01)
    high = histogram.percentile(1.0)
    assert low is not None
    assert high is not None
    assert low <= 1e-5
    assert high >= 86400.0


# -- Stats ----------------------------------------------------------------------------------


def sample_results() -> list[FetchResult]:
    return [
        FetchResult("http://a.example/1", position=0, status=200, size=100, elapsed=0.010),
        FetchResult("http://a.example/2", position=1, status=200, size=50, elapsed=0.020),
        FetchResult("http://a.example/3", position=2, status=301, size=0, elapsed=0.030),
        FetchResult("http://a.example/4", position=3, status=404, size=10, elapsed=0.040),
        FetchResult("http://a.example/5", position=4, status=503, size=5, elapsed=0.050),
        FetchResult(
            "http://b.example/",
            position=5,
            elapsed=1.0,
            error=ErrorInfo("ConnectError", "refused"),
        ),
        FetchResult(
            "http://c.example/",
            position=6,
            elapsed=2.0,
            error=ErrorInfo("FetchTimeout", "deadline passed"),
        ),
        FetchResult(
            "http://d.example/",
            position=7,
            elapsed=3.0,
            error=ErrorInfo("ConnectError", "refused"),
        ),
    ]


def test_stats_record_counts_ok_failed_statuses_and_errors() -> None:
    stats = Stats()
    for result in sample_results():
        stats.record(result)
    assert stats.recorded == 8
    assert stats.ok == 3  # 200, 200, 301
    assert stats.failed == 3  # errors only: a 404 or 503 response is not a failed fetch
    assert stats.bytes == 165
    assert dict(stats.by_status) == {200: 2, 301: 1, 404: 1, 503: 1}
    assert dict(stats.by_error) == {"ConnectError": 2, "FetchTimeout": 1}
    assert stats.latency.count == 5  # latencies of responses only
    assert stats.latency_sum == pytest.approx(6.15)


def test_stats_snapshot_freezes_the_counters() -> None:
    stats = Stats()
    for result in sample_results():
        stats.record(result)
    stats.retries = 4
    stats.skipped_input = 2
    snapshot = stats.snapshot()
    stats.record(FetchResult("http://late.example/", status=200))
    assert isinstance(snapshot, StatsSnapshot)
    assert (snapshot.recorded, snapshot.ok, snapshot.failed) == (8, 3, 3)
    assert snapshot.by_status == {200: 2, 301: 1, 404: 1, 503: 1}
    assert (snapshot.retries, snapshot.skipped_input) == (4, 2)
    assert snapshot.p50 is not None
    assert snapshot.p50 == pytest.approx(0.030, rel=0.02)


def test_snapshot_to_dict_has_the_documented_keys_and_is_json() -> None:
    stats = Stats()
    for result in sample_results():
        stats.record(result)
    stats.skipped_input = 1
    record = stats.snapshot().to_dict()
    assert set(record) == {
        "elapsed",
        "recorded",
        "fetched",
        "ok",
        "http_errors",
        "failed",
        "retries",
        "bytes",
        "requests_per_second",
        "by_status",
        "by_error",
        "latency",
        "skipped",
        "by_skip",
        "skipped_input_lines",
        "worker_restarts",
        "handler_errors",
        "by_proxy",
    }
    by_status = record["by_status"]
    assert isinstance(by_status, dict)
    assert by_status == {"200": 2, "301": 1, "404": 1, "503": 1}
    assert list(by_status) == ["200", "301", "404", "503"]
    assert record["by_error"] == {"ConnectError": 2, "FetchTimeout": 1}
    latency = record["latency"]
    assert isinstance(latency, dict)
    assert set(latency) == {"p50", "p95", "p99"}
    assert record["skipped_input_lines"] == 1
    assert json.loads(json.dumps(record)) == record


def test_snapshot_of_no_results_has_no_latency_and_zero_rate() -> None:
    snapshot = StatsSnapshot(
        elapsed=0.0,
        recorded=0,
        ok=0,
        failed=0,
        retries=0,
        in_flight=0,
        bytes=0,
        by_status={},
        by_error={},
        p50=None,
        p95=None,
        p99=None,
    )
    assert snapshot.rate == 0.0
    assert snapshot.to_dict()["latency"] == {"p50": None, "p95": None, "p99": None}
    empty = Stats().snapshot()
    assert (empty.recorded, empty.p50, empty.p95, empty.p99) == (0, None, None, None)


def test_snapshot_rate_is_recorded_per_elapsed_second() -> None:
    snapshot = StatsSnapshot(
        elapsed=4.0,
        recorded=10,
        ok=10,
        failed=0,
        retries=0,
        in_flight=0,
        bytes=0,
        by_status={200: 10},
        by_error={},
        p50=0.1,
        p95=0.2,
        p99=0.3,
    )
    assert snapshot.rate == 2.5
    assert snapshot.to_dict()["requests_per_second"] == 2.5


def test_a_full_disk_leaves_only_whole_records(server: ServerProcess, small_disk: Path) -> None:
    out = small_disk / "out.jsonl"
    urls = "".join(f"{server.url}/status/200?n={n}\n" for n in range(3000))
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "fetch", "-", "-o", str(out), "-q"],
        input=urls, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"corocrawl fetch: error: cannot write output '{out}': No space left on device"
    ]
    data = out.read_bytes()
    assert 64 * 1024 < len(data) <= 232 * 1024  # some batches were written whole
    assert data.endswith(b"\n")  # no half record at the end
    assert all(json.loads(line)["status"] == 200 for line in data.splitlines())


@pytest.mark.parametrize(
    "command",
    [
        ["fetch", "URLS"],
        ["fetch", "URLS", "--workers", "2"],
        ["crawl", "SITE", "--ignore-robots"],
        ["crawl", "SITE", "--ignore-robots", "--workers", "2"],
    ],
    ids=["fetch", "fetch-workers", "crawl", "crawl-workers"],
)
def test_bodies_on_a_full_disk_end_the_run_with_one_line(
    start_server: Callable[..., ServerProcess],
    tmp_path: Path,
    small_disk: Path,
    command: list[str],
) -> None:
    """README, Guarantees: a full disk ends the run with exit 1 and one line, not a traceback,
    and the output holds whole records only."""
    server = start_server("--site-pages", "400")
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{server.url}/bytes/{5000 + n}\n" for n in range(400)))
    arguments = [
        {"URLS": str(urls), "SITE": f"{server.url}/site/0"}.get(word, word) for word in command
    ]
    out, bodies = tmp_path / "out.jsonl", small_disk / "bodies"
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", *arguments, "-o", str(out), "-q",
         "--save-bodies", str(bodies)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"corocrawl {command[0]}: error: cannot save a body in '{bodies}': No space left on device"
    ]
    data = out.read_bytes()
    assert data.endswith(b"\n") or not data
    assert all(json.loads(line)["status"] == 200 for line in data.splitlines())


def test_a_csv_output_is_one_row_per_record_under_its_header(tmp_path: Path) -> None:
    path = tmp_path / "pages.csv"
    sink = open_sink(path)
    assert isinstance(sink, CsvSink)
    sink.write({"url": "http://a/", "status": 200, "title": "two\nlines, and \"quotes\"",
                "error": None, "warc": {"file": "a.warc.gz", "offset": 7, "length": 9},
                "headers": {"etag": '"x"'}, "noindex": True})  # fmt: skip
    sink.write({"url": "http://b/", "status": None,
                "error": {"type": "ReadError", "message": "reset"}})  # fmt: skip
    sink.close()
    assert path.read_text().count("\n") == 3  # a line break in a value is a space
    with path.open(newline="") as rows:
        first, second = csv.DictReader(rows)
    assert first["title"] == 'two lines, and "quotes"'
    assert (first["warc_file"], first["warc_offset"], first["warc_length"]) == (
        "a.warc.gz",
        "7",
        "9",
    )
    assert json.loads(first["headers"]) == {"etag": '"x"'}
    assert json.loads(first["extra"]) == {"noindex": True}  # a key of no column of its own
    assert (second["status"], second["error_type"], second["error_message"]) == (
        "",
        "ReadError",
        "reset",
    )
    # Appended to (a resume), it keeps its header and writes none again.
    again = open_sink(path, append=True)
    again.write({"url": "http://c/", "status": 200})
    again.close()
    with path.open(newline="") as rows:
        assert [row["url"] for row in csv.DictReader(rows)] == [
            "http://a/",
            "http://b/",
            "http://c/",
        ]


def test_the_output_format_comes_from_the_name_or_is_given(tmp_path: Path) -> None:
    assert type(open_sink(tmp_path / "a.jsonl")) is JsonlSink
    assert type(open_sink(tmp_path / "a.CSV")) is CsvSink
    assert type(open_sink(tmp_path / "a.txt", format="csv")) is CsvSink
    with pytest.raises(ConfigError, match="unknown output format 'xml'"):
        open_sink(tmp_path / "a.xml", format="xml")


def test_a_csv_of_items_keeps_what_later_items_add_and_refuses_a_file_of_another_format(
    tmp_path: Path,
) -> None:
    path = tmp_path / "items.csv"
    sink = open_sink(path, columns=None)
    sink.write({"url": "http://a/", "title": "A"})
    sink.write({"url": "http://b/", "title": "B", "price": 3})
    sink.close()
    with path.open(newline="") as rows:
        first, second = csv.DictReader(rows)
    assert (first["title"], first["extra"]) == ("A", "")
    assert json.loads(second["extra"]) == {"price": 3}
    jsonl = tmp_path / "pages.csv"
    jsonl.write_text('{"url": "http://a/", "status": 200}\n')  # JSON Lines under a .csv name
    with pytest.raises(ConfigError, match="does not begin with the header of a CSV of records"):
        open_sink(jsonl, append=True)
