"""Robots directives inside pages (meta robots, X-Robots-Tag, rel="nofollow") and canonical
links, in a crawl of the bundled server's /directives page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from yarl import URL

from corocrawl._crawl.directives import FetchedCanonicals, robots_directives
from corocrawl.testing import ServerProcess


def crawl(seeds: list[str], out: Path, *options: str) -> dict[str, dict[str, Any]]:
    """The records of a crawl to depth 1, one request at a time, by path and query."""
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "crawl", *seeds, "-o", str(out), "--ignore-robots",
         "--max-depth", "1", "--concurrency", "1", *options],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return {URL(record["url"]).path_qs.lstrip("/"): record for record in records}


@pytest.mark.parametrize(
    ("query", "followed", "marks"),
    [
        ("meta=nofollow", set(), {"nofollow": True}),
        ("meta=none", set(), {"nofollow": True, "noindex": True}),
        ("header=noindex", {"bytes/11", "bytes/12"}, {"noindex": True}),
        ("header=" + quote("noindex, nofollow"), set(), {"nofollow": True, "noindex": True}),
        ("header=" + quote("otherbot: nofollow"), {"bytes/11", "bytes/12"}, {}),  # not ours
        ("meta=index,follow", {"bytes/11", "bytes/12"}, {}),
    ],
)
def test_robots_directives_in_a_page_are_obeyed_and_recorded(
    server: ServerProcess, tmp_path: Path, query: str, followed: set[str], marks: dict[str, bool]
) -> None:
    records = crawl([f"{server.url}/directives?{query}"], tmp_path / "out.jsonl")
    page = next(record for key, record in records.items() if key.startswith("directives"))
    assert {name: page[name] for name in ("nofollow", "noindex") if name in page} == marks
    assert page["links"] == 2  # found and counted either way
    assert {key for key in records if key.startswith("bytes")} == followed


def test_rel_nofollow_links_are_followed_unless_asked_not_to(
    server: ServerProcess, tmp_path: Path
) -> None:
    seed = f"{server.url}/directives"
    assert {"bytes/11", "bytes/12"} <= set(crawl([seed], tmp_path / "a.jsonl"))
    kept = crawl([seed], tmp_path / "b.jsonl", "--respect-nofollow")
    assert "bytes/11" in kept
    assert "bytes/12" not in kept


def test_the_canonical_link_is_recorded_and_with_canonical_dedupe_a_copy_is_a_duplicate(
    server: ServerProcess, tmp_path: Path
) -> None:
    original = f"{server.url}/site/0"
    copy = f"{server.url}/directives?canonical=/site/0"
    records = crawl([original, copy], tmp_path / "a.jsonl")
    page = next(record for key, record in records.items() if key.startswith("directives"))
    assert page["canonical"] == original
    assert "duplicate_of" not in page
    assert "bytes/11" in records
    deduped = crawl([original, copy], tmp_path / "b.jsonl", "--canonical-dedupe")
    page = next(record for key, record in deduped.items() if key.startswith("directives"))
    assert page["duplicate_of"] == original
    assert "bytes/11" not in deduped  # a duplicate's links are not followed


def test_directives_parse_as_crawlers_read_them() -> None:
    assert robots_directives("NoIndex, NOFOLLOW") == {"noindex", "nofollow"}
    assert robots_directives("none") == {"noindex", "nofollow"}
    assert robots_directives("googlebot: noindex", None, "") == set()
    assert robots_directives("unavailable_after: 2026-12-31") == {"unavailable_after"}
    assert robots_directives("noarchive", "nofollow") == {"noarchive", "nofollow"}


def test_fetched_canonicals_keep_the_first_copy_and_stay_bounded() -> None:
    seen = FetchedCanonicals(limit=3)
    assert not seen.duplicate("http://h/a", None)
    assert seen.duplicate("http://h/b", "http://h/a")
    assert not seen.duplicate("http://h/a?x", "http://h/c")  # the first copy of /c
    assert not seen.duplicate("http://h/c", None)  # the original itself is never a duplicate
    for number in range(10):
        seen.duplicate(f"http://h/{number}", None)
    assert not seen.duplicate("http://h/d", "http://h/a")  # /a was forgotten
