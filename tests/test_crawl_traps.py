"""Crawl traps and budgets: a crawl of the bundled server's /trap/ site, full of URL spaces that
never end, must finish, reach every real page, and say how many URLs each guard stopped."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from corocrawl import Scope, SkipReason, Traps
from corocrawl._crawl.traps import ClaimGuards, path_template, shape_trap, without_parameters
from corocrawl.testing import ServerProcess, site_links
from corocrawl.testing._traps import TRAP_PAGES

# Small limits, so that the counting guards stop their traps after a few dozen requests.
SMALL = ("--max-queries-per-path", "15", "--max-urls-per-template", "12")


def crawl_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corocrawl", "crawl", "--ignore-robots", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def records_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_crawl_of_the_trap_site_finishes_reaches_every_real_page_and_counts_each_guard(
    server: ServerProcess, tmp_path: Path
) -> None:
    out, stats = tmp_path / "pages.jsonl", tmp_path / "stats.json"
    done = crawl_cli(f"{server.url}/trap/", "-o", str(out), "--stats-json", str(stats), *SMALL)
    assert done.returncode == 0, done.stderr
    records = records_of(out)
    fetched = {URL(record["url"]).path for record in records if record["skip"] is None}
    assert {f"/trap/page/{number}" for number in range(TRAP_PAGES)} <= fetched
    skips = Counter(record["skip"] for record in records if record["skip"] is not None)
    for guard in (SkipReason.REPEATED_SEGMENT, SkipReason.PATH_TOO_DEEP, SkipReason.URL_TOO_LONG,
                  SkipReason.TOO_MANY_QUERIES, SkipReason.TOO_MANY_TEMPLATE_URLS):  # fmt: skip
        assert skips[guard] >= 1, guard
    # The calendar's template (/trap/calendar/#/#) is fetched 12 times, the shop's path with
    # a query 15 times, and the session page once: its session ids are dropped, so every
    # "new" session is the same URL.
    paths = Counter(URL(record["url"]).path for record in records if record["skip"] is None)
    assert sum(n for path, n in paths.items() if path.startswith("/trap/calendar/")) == 12
    assert paths["/trap/shop"] == 1 + 15
    assert paths["/trap/session"] == 1
    assert done.stderr.count("skipped: ") == 1
    summary = json.loads(stats.read_text())
    assert summary["by_skip"] == dict(sorted(skips.items()))


def test_session_ids_kept_on_request_are_stopped_by_the_query_guard(
    server: ServerProcess, tmp_path: Path
) -> None:
    out = tmp_path / "pages.jsonl"
    seed = f"{server.url}/trap/session?sid={1:032x}"
    done = crawl_cli(seed, "-o", str(out), "--keep-session-ids", "--max-queries-per-path", "5",
                     "--include", "/trap/session")  # fmt: skip
    assert done.returncode == 0, done.stderr
    sessions = [record for record in records_of(out) if "/trap/session" in record["url"]]
    assert sum(record["skip"] is None for record in sessions) == 5
    assert [record["skip"] for record in sessions if record["skip"]] == ["too-many-queries"]


def test_a_host_over_its_page_budget_has_the_rest_recorded_as_skipped(
    server: ServerProcess, tmp_path: Path
) -> None:
    out = tmp_path / "pages.jsonl"
    done = crawl_cli(f"{server.url}/site/0", "-o", str(out), "--max-pages-per-host", "7")
    assert done.returncode == 0, done.stderr
    records = records_of(out)
    assert sum(record["skip"] is None for record in records) == 7
    budget = [record for record in records if record["skip"] == "budget"]
    assert budget
    assert "budget x" in done.stderr


def test_a_host_over_its_byte_budget_is_fetched_no_more(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The budget is checked right before each fetch, not when requests are taken in (up to
    a thousand ahead of their turn)."""
    out = tmp_path / "pages.jsonl"
    done = crawl_cli(f"{server.url}/site/0", "-o", str(out), "--max-bytes-per-host", "12k",
                     "--concurrency", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = records_of(out)
    fetched = [record for record in records if record["skip"] is None]
    assert sum(record["bytes"] for record in fetched[:-1]) < 12 * 1024
    assert sum(record["bytes"] for record in fetched) >= 12 * 1024
    assert any(record["skip"] == "budget" for record in records)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://h/a/b/a/b/a/b", SkipReason.REPEATED_SEGMENT),
        ("http://h/a/b/a/b", None),  # twice is allowed
        ("http://h/2026/11/11/11/a", None),  # numbers may repeat
        ("http://h/" + "/".join(f"s{n}" for n in range(21)), SkipReason.PATH_TOO_DEEP),
        ("http://h/" + "/".join(f"s{n}" for n in range(20)), None),
        ("http://h/" + "x" * 2000, SkipReason.URL_TOO_LONG),
    ],
)
def test_a_urls_shape_alone_can_stop_it(url: str, reason: SkipReason | None) -> None:
    assert shape_trap(URL(url), url, Traps()) == reason


def test_guards_set_to_none_are_off() -> None:
    off = Traps(max_url_length=None, max_segment_repeats=None, max_path_segments=None)
    url = "http://h/" + "/".join(["a"] * 30) + "x" * 3000
    assert shape_trap(URL(url), url, off) is None


def test_templates_abstract_number_segments_only_where_a_path_has_two_numbers() -> None:
    assert path_template("/cal/2026/11") == path_template("/cal/1999/2") == "/cal/#/#"
    assert path_template("/day/2026-11-30") == "/day/#"
    assert path_template("/product/123") is None  # an id: a site's ids are its pages
    assert path_template("/api/v2/items/123") is None  # v2 is a name


def test_session_and_tracking_parameters_are_dropped() -> None:
    url = URL("http://h/p;jsessionid=AB12?q=1&PHPSESSID=x&utm_source=y&sid=3")
    stripped = Traps().stripped_parameters
    assert str(without_parameters(url, stripped)) == "http://h/p?q=1&utm_source=y&sid=3"
    both = Traps(strip_tracking=True).stripped_parameters
    assert str(without_parameters(url, both)) == "http://h/p?q=1&sid=3"
    assert without_parameters(url, ()) is url
    # sid is a session only when it looks like a token (Slashdot's sid=06/01/01/1234 is not).
    token = URL("http://h/p?sid=0123456789abcdef0123&a=1")
    assert str(without_parameters(token, stripped)) == "http://h/p?a=1"


def test_a_key_over_its_limit_is_never_the_one_forgotten() -> None:
    from corocrawl._crawl.traps import _Counts

    counts = _Counts(limit=3)
    counts.add("trap", 5)
    for key in ("a", "b", "c", "d"):
        counts.get("trap")  # asked about as it refuses another URL
        counts.add(key, 1)
    assert counts.get("trap") == 5


def test_claim_guards_count_per_host_and_forget_what_was_not_fetched() -> None:
    guards = ClaimGuards(Scope(max_pages_per_host=2), Traps())
    assert guards.admit("http://a/1") is None
    assert guards.admit("http://a/2") is None
    assert guards.admit("http://b/1") is None  # another host: its own budget
    assert guards.admit("http://a/3") == SkipReason.BUDGET
    guards.not_fetched("http://a/2")  # refused by robots.txt after all
    assert guards.admit("http://a/3") is None


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("http://Example.org:8080/a/b?x=1", ("example.org", "/a/b", "x=1")),
        ("https://user:pw@h/p", ("h", "/p", "")),
        ("http://[::1]:80/?q", ("[::1]", "/", "q")),
        ("http://h", ("h", "/", "")),
    ],
)
def test_the_claim_guards_read_host_path_and_query_of_a_canonical_url(
    url: str, parts: tuple[str, str, str]
) -> None:
    from corocrawl._crawl.traps import _parts

    assert _parts(url) == parts


def test_max_depth_per_host_counts_links_within_a_host_from_where_the_crawl_entered_it(
    server: ServerProcess, tmp_path: Path
) -> None:
    """Seed -> /site/0 on 127.0.0.1 (1 link in) -> its links (2 in: over the budget of 1). A
    redirect to another host enters it: there /site/0 is 0 links in, its links 1."""
    out = tmp_path / "pages.jsonl"
    other = server.url.replace("127.0.0.1", "localhost")
    seed = f"{server.url}/redirect-to?url={other}/site/0"
    done = crawl_cli(seed, f"{server.url}/site/0", "-o", str(out), "--max-depth-per-host", "1",
                     "--allow-domain", "localhost")  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = records_of(out)
    by_host: dict[str, dict[str, str | None]] = {}
    for record in records:
        url = URL(record["url"])
        by_host.setdefault(url.host or "", {})[url.path] = record["skip"]
    first = {f"/site/{n}" for n in site_links(0, 200, 5)} - {"/site/0"}
    second = {f"/site/{m}" for n in site_links(0, 200, 5) for m in site_links(n, 200, 5)}
    second -= first | {"/site/0"}
    for pages in (by_host["127.0.0.1"], by_host["localhost"]):
        fetched = {path for path, skip in pages.items() if skip is None}
        assert fetched - {"/redirect-to"} == {"/site/0"} | first
        assert {path for path, skip in pages.items() if skip == "budget"} == second
    assert max(record["depth"] for record in records if record["skip"] is None) == 2
