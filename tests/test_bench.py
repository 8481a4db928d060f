"""`corocrawl bench` end to end at tiny scale: the shape of its results, never their speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corocrawl", "bench", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("throughput", "--requests", "40", "--concurrency", "4"),  # nginx, installed by CI
        ("throughput", "--requests", "40", "--concurrency", "4", "--tls"),
        ("throughput", "--requests", "40", "--concurrency", "4", "--server", "corocrawl"),
        ("scale", "--sizes", "10,20", "--delay", "0.05", "--tls"),
        ("scale", "--sizes", "10,20", "--delay", "0.05", "--server", "nginx"),  # its echo module
        ("scale", "--sizes", "10,20", "--delay", "0.05", "--server", "corocrawl"),
    ],
)
def test_bench_suite_reports_every_contender(args: tuple[str, ...], tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = bench(*args, "--repeat", "1", "--json", str(out))
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert document["machine"]["nproc"] >= 1
    rows = document["rows"]
    contenders = {row["contender"] for row in rows}
    if args[0] == "throughput":
        assert contenders == {"aiohttp", "corocrawl-aiohttp", "corocrawl-curl", "httpx", "scrapy"}
        assert ("nginx" in done.stderr) == ("--server" not in args)
    else:
        assert contenders == {"aiohttp", "corocrawl-aiohttp", "corocrawl-curl"}
    if "--server" in args:
        assert ("server: nginx" in done.stderr) == ("nginx" in args)
    if "--tls" in args and args[0] == "throughput":
        assert "over TLS" in done.stdout
    for row in rows:
        assert row["failed_max"] == 0
        assert row["requests_per_s"]["median"] > 0
        assert row["peak_rss_mb"]["median"] > 0
    assert "vs aiohttp" in done.stdout


@pytest.mark.parametrize(
    ("suite", "contenders"),
    [
        (("throughput", "--requests", "40", "--concurrency", "4"),
         ("corocrawl-curl", "corocrawl-curl-per-ip")),
        (("crawl", "--pages", "30", "--links", "3"),
         ("crawl-corocrawl-curl", "crawl-corocrawl-curl-warc")),
        (("crawl", "--pages", "30", "--links", "3"),
         ("crawl-corocrawl-curl", "crawl-corocrawl-curl-extract-text",
          "crawl-corocrawl-curl-extract-meta")),
    ],
)  # fmt: skip
def test_a_contender_asked_for_measures_what_one_feature_costs(
    suite: tuple[str, ...], contenders: tuple[str, ...], tmp_path: Path
) -> None:
    """The per-IP limit's bookkeeping, a WARC archive and --extract, each beside the same run
    without."""
    out = tmp_path / "results.json"
    done = bench(*suite, "--repeat", "1", "--contenders", ",".join(contenders),
                 "--json", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    assert tuple(row["contender"] for row in rows) == contenders
    assert all(row["failed_max"] == 0 and row["ok_min"] == row["requests"] for row in rows)


def test_bench_crawl_on_several_hosts_with_workers(tmp_path: Path) -> None:
    out = tmp_path / "crawl.json"
    done = bench(
        "crawl", "--pages", "30", "--links", "3", "--page-bytes", "20000", "--hosts", "2",
        "--repeat", "1", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "on 2 host(s)" in done.stdout
    rows = {row["contender"]: row for row in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"crawl-aiohttp", "crawl-corocrawl-aiohttp", "crawl-corocrawl-curl",
                         "crawl-scrapy", "crawl-corocrawl-workers-2"}  # fmt: skip
    for row in rows.values():
        assert (row["requests"], row["ok_min"], row["failed_max"]) == (60, 60, 0)
    assert "(workers " in done.stderr  # the CPU the worker processes took is reported apart
