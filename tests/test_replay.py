"""`--replay`: a crawl answered from yesterday's WARC files instead of the network."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from corocrawl.testing import ServerProcess

SITE = ("--site-pages", "40", "--site-links", "4")


def corocrawl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corocrawl", *args],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def crawled(path: Path) -> dict[str, dict[str, Any]]:
    """Each URL's record, without what differs from one crawl to the next: times, pointers,
    and which of two pages at one depth led to it first."""
    kept = ("status", "depth", "content_type", "bytes", "title", "links", "skip")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return {record["url"]: {key: record.get(key) for key in kept} for record in records}


def test_a_replayed_crawl_records_what_the_crawl_did_without_the_network(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    site = start_server(*SITE)
    seed = f"{site.url}/site/0"
    done = corocrawl("crawl", seed, "-o", str(tmp_path / "live.jsonl"), "-q",
                     "--warc", str(tmp_path / "site.warc.gz"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    site.stop()  # from here on, nothing answers
    replayed = corocrawl("crawl", seed, "-o", str(tmp_path / "replay.jsonl"), "-q",
                         "--replay", str(tmp_path), "--replay-only")  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    live, again = crawled(tmp_path / "live.jsonl"), crawled(tmp_path / "replay.jsonl")
    # The same pages, links and outcomes; robots.txt aside (a replay does not read it).
    assert {url: r for url, r in again.items()} == {
        url: r for url, r in live.items() if not url.endswith("/robots.txt")
    }
    assert sum(record["status"] == 200 for record in again.values()) == 40


@pytest.mark.parametrize("only", [False, True])
def test_what_the_archive_does_not_hold_is_fetched_or_skipped(
    start_server: Callable[..., ServerProcess], tmp_path: Path, only: bool
) -> None:
    site = start_server(*SITE)
    seed = f"{site.url}/site/0"
    done = corocrawl("crawl", seed, "-o", str(tmp_path / "first.jsonl"), "-q", "--max-pages",
                     "10", "--warc", str(tmp_path / "part.warc.gz"), "--ignore-robots")  # fmt: skip
    assert done.returncode == 0, done.stderr
    site.reset_stats()
    archived = {url for url, r in crawled(tmp_path / "first.jsonl").items() if r["status"]}
    replay = ["--replay", str(tmp_path / "part.warc.gz")] + (["--replay-only"] if only else [])
    again = corocrawl("crawl", seed, "-o", str(tmp_path / "again.jsonl"), "-q", *replay)
    assert again.returncode == 0, again.stderr
    records = crawled(tmp_path / "again.jsonl")
    by_path = site.stats()["by_path"]
    from_network = sum(count for path, count in by_path.items() if path != "/robots.txt")
    assert all(records[url]["status"] == 200 for url in archived)
    if only:
        assert from_network == 0
        skipped = {url for url, r in records.items() if r["skip"] == "not-archived"}
        assert skipped == set(records) - archived
    else:  # robots.txt is read for what is fetched
        assert "/robots.txt" in by_path
        assert from_network == len(records) - len(archived)
        assert all(record["status"] == 200 for record in records.values())


def test_a_replay_of_what_is_no_warc_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.warc.gz"
    bogus.write_bytes(b"not gzip at all")
    done = corocrawl("crawl", "http://127.0.0.1:1/", "--replay", str(bogus), "-q")
    assert done.returncode == 2
    assert f"{bogus}: not a WARC file compressed a record per gzip member" in done.stderr
    assert "Traceback" not in done.stderr
    missing = corocrawl("crawl", "http://127.0.0.1:1/", "--replay", str(tmp_path / "none"))
    assert missing.returncode == 2
    assert "no such file or directory" in missing.stderr
