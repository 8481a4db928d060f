"""Incremental recrawls: conditional requests, unchanged pages, the adaptive schedule, and
their WARC revisit records, against the bundled server's /changing/ site (whose page N changes
every generation, every second one or never as N % 3 is 0, 1, 2, and has ETag and
Last-Modified, Last-Modified, ETag or neither as N % 4 is 0, 1, 2, 3)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import RedisServer, warcio_check
from warcio.archiveiterator import ArchiveIterator

from corocrawl import CrawlConfig, JsonlSink, Politeness, Revisit, WarcWriter
from corocrawl._cli.main import build_parser
from corocrawl._cli.options import crawl_config_from_args
from corocrawl._crawl.crawler import Crawler
from corocrawl.frontier import Frontier, RedisFrontier, SqliteFrontier
from corocrawl.testing import ServerProcess
from corocrawl.testing._changing import CHANGING_PAGES

DAY = 86400.0
T0 = 1_800_000_000.0
PAGES = range(CHANGING_PAGES)
EVERY, EVERY_SECOND, NEVER = 0, 1, 2  # N % 3
NO_VALIDATORS = 3  # N % 4
CONFIG = CrawlConfig(
    politeness=Politeness(respect_robots=False),
    revisit=Revisit(after=DAY, least=DAY / 4, most=8 * DAY),
)


def next_generation(server: ServerProcess) -> None:
    request = urllib.request.Request(f"{server.url}/changing/next", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture(params=["sqlite", "redis"])
def open_frontier(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    crawl_id = f"recrawl-{uuid.uuid4().hex}"

    async def opener() -> Frontier:
        if request.param == "redis":
            server = request.getfixturevalue("redis_server")
            return await RedisFrontier.open(server.url, crawl_id)
        return await SqliteFrontier.open(tmp_path / "state.db")

    return opener


async def crawl_at(
    when: float,
    open_frontier: Callable[[], Any],
    seed: str,
    output: Path,
    warc: Path | None = None,
) -> tuple[dict[str, dict[str, Any]], Crawler]:
    """One run of the crawl at the time `when`, revisiting what is due: its records by path."""
    frontier = await open_frontier()
    sink = JsonlSink(output)
    writer = None if warc is None else WarcWriter(warc)
    try:
        crawler = Crawler(CONFIG, frontier=frontier, output=sink, warc=writer, recrawl=True,
                          clock=lambda: when)  # fmt: skip
        await crawler.run([seed])
    finally:
        sink.close()
        if writer is not None:
            writer.close()
        await frontier.close()
    return by_path(output, seed.removesuffix("/changing/")), crawler


def by_path(output: Path, origin: str) -> dict[str, dict[str, Any]]:
    records = [json.loads(line) for line in output.read_text().splitlines()]
    return {record["url"].removeprefix(origin): record for record in records}


def pages(records: dict[str, dict[str, Any]], *, change: str | None = None) -> set[str]:
    """The site's pages (index and /changing/N) among `records`, with that change."""
    wanted = {"/changing/", *(f"/changing/{number}" for number in PAGES)}
    return {
        path
        for path, record in records.items()
        if path in wanted and (record.get("recrawl") or {}).get("change") == change
    }


def numbered(*periods: int, validators: bool | None = None) -> set[str]:
    return {
        f"/changing/{number}"
        for number in PAGES
        if number % 3 in periods
        and (validators is None or (number % 4 != NO_VALIDATORS) == validators)
    }


async def test_three_recrawls_refetch_what_changed_as_often_as_it_changes(
    start_server: Callable[..., ServerProcess], open_frontier: Callable[[], Any], tmp_path: Path
) -> None:
    server = start_server()  # its own: the site's generation starts at 0
    seed = f"{server.url}/changing/"
    first, _ = await crawl_at(T0, open_frontier, seed, tmp_path / "0.jsonl",
                              tmp_path / "day0.warc.gz")  # fmt: skip
    everything = {"/changing/", *(f"/changing/{number}" for number in PAGES)}
    assert pages(first) == everything  # all new: nothing to compare with
    assert all(first[f"/changing/born/{number}/0"]["status"] == 200 for number in PAGES)

    # Day 1, generation 1: everything is due (interval 1 day). Pages that change every
    # generation changed; the others answer 304 where they have validators, or the same body.
    next_generation(server)
    warc = tmp_path / "day1.warc.gz"
    day1, crawler = await crawl_at(T0 + DAY, open_frontier, seed, tmp_path / "1.jsonl", warc)
    assert pages(day1, change="changed") == numbered(EVERY)
    unchanged = pages(day1, change="unchanged")
    assert unchanged == everything - numbered(EVERY)
    not_modified = {path for path in unchanged if day1[path]["status"] == 304}
    assert not_modified == numbered(EVERY_SECOND, NEVER, validators=True)
    assert all(day1[path]["recrawl"]["by"] == "not-modified" for path in not_modified)
    by_digest = unchanged - not_modified
    assert by_digest == {"/changing/", *numbered(EVERY_SECOND, NEVER, validators=False)}
    assert all(day1[path]["recrawl"]["by"] == "digest" for path in by_digest)
    # Intervals: halved for a change, doubled otherwise.
    assert {day1[path]["recrawl"]["interval"] for path in numbered(EVERY)} == {DAY / 2}
    assert {day1[path]["recrawl"]["interval"] for path in unchanged} == {2 * DAY}
    # Changed pages are parsed again: each new version links to a new page, found now. An
    # unchanged page is not parsed (no title, no links counted).
    for number in PAGES:
        assert (f"/changing/born/{number}/1" in day1) == (number % 3 == EVERY)
    assert all(day1[path]["links"] is None for path in unchanged)
    assert crawler.recrawl.changed == len(numbered(EVERY))
    assert crawler.recrawl.not_modified >= len(not_modified)  # and the born pages' 304s

    # The archive: a response for what changed, a revisit for what did not, by profile.
    kinds: dict[str, str] = {}
    with warc.open("rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type in ("response", "revisit"):
                path = record.rec_headers.get_header("WARC-Target-URI")[len(server.url) :]
                profile = record.rec_headers.get_header("WARC-Profile") or ""
                kinds[path] = f"{record.rec_type} {profile.rsplit('/', 1)[-1]}".strip()
                if record.rec_type == "revisit":
                    refers = record.rec_headers.get_header("WARC-Refers-To-Target-URI")
                    assert refers == record.rec_headers.get_header("WARC-Target-URI")
    assert {path for path, kind in kinds.items() if kind == "response"} >= numbered(EVERY)
    assert {path for path in not_modified if kinds[path] == "revisit server-not-modified"} == (
        not_modified
    )
    assert {path for path in by_digest if kinds[path] == "revisit identical-payload-digest"} == (
        by_digest
    )
    checked = warcio_check(warc)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # Day 2, generation 2: only the pages that changed are due (half a day); they changed
    # again. The others wait out their two days.
    next_generation(server)
    day2, _ = await crawl_at(T0 + 2 * DAY, open_frontier, seed, tmp_path / "2.jsonl")
    assert pages(day2, change="changed") == numbered(EVERY)
    assert pages(day2, change="unchanged") == set()
    assert {day2[path]["recrawl"]["interval"] for path in numbered(EVERY)} == {DAY / 4}

    # Day 3, generation 3: every page is due. Those of every second generation changed since
    # day 1; the others did not, and wait four days now. Nothing goes below a quarter day.
    next_generation(server)
    day3, _ = await crawl_at(T0 + 3 * DAY, open_frontier, seed, tmp_path / "3.jsonl")
    assert pages(day3, change="changed") == numbered(EVERY, EVERY_SECOND)
    assert pages(day3, change="unchanged") == {"/changing/", *numbered(NEVER)}
    assert {day3[path]["recrawl"]["interval"] for path in numbered(EVERY)} == {DAY / 4}
    assert {day3[path]["recrawl"]["interval"] for path in numbered(EVERY_SECOND)} == {DAY}
    assert {day3[path]["recrawl"]["interval"] for path in numbered(NEVER)} == {4 * DAY}


def corocrawl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corocrawl", *args],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.mark.parametrize(("transport", "workers"), [("curl", "1"), ("aiohttp", "2")])
def test_crawl_recrawl_asks_each_due_page_only_if_it_changed(
    start_server: Callable[..., ServerProcess], tmp_path: Path, transport: str, workers: str
) -> None:
    server = start_server()
    state, seed = str(tmp_path / "crawl.db"), f"{server.url}/changing/"
    common = ("--state", state, "--transport", transport, "--workers", workers,
              "--ignore-robots", "--revisit-after", "1s")  # fmt: skip
    first = corocrawl("crawl", seed, "-o", str(tmp_path / "first.jsonl"), *common)
    assert first.returncode == 0, first.stderr
    next_generation(server)
    time.sleep(1.2)  # every page is due a second after its fetch
    again = corocrawl("crawl", "--recrawl", "-o", str(tmp_path / "again.jsonl"), *common)
    assert again.returncode == 0, again.stderr
    records = by_path(tmp_path / "again.jsonl", server.url)
    assert pages(records, change="changed") == numbered(EVERY)
    not_modified = {path for path, record in records.items() if record["status"] == 304}
    # The pages with validators that did not change, and the born pages (with an ETag).
    assert not_modified >= numbered(EVERY_SECOND, NEVER, validators=True)
    assert all(records[path]["bytes"] == 0 for path in not_modified)
    due = len((tmp_path / "first.jsonl").read_text().splitlines())  # every page
    changed = len(numbered(EVERY))
    assert (
        f"recrawl: {due:,} came due; revisited {due:,}: {changed} changed, {due - changed:,} "
        f"unchanged ({len(not_modified)} by 304, {due - changed - len(not_modified)} by their "
        "digest)"
    ) in again.stderr


def test_a_recrawl_needs_a_crawl_that_kept_its_state_and_sound_intervals(
    tmp_path: Path,
) -> None:
    done = corocrawl("crawl", "--recrawl", "http://127.0.0.1:1/")
    assert done.returncode == 2
    assert "--recrawl revisits the pages of a crawl kept in --state" in done.stderr
    missing = corocrawl("crawl", "--recrawl", "--state", str(tmp_path / "none.db"))
    assert missing.returncode == 2
    assert "nothing to recrawl" in missing.stderr
    state = ("--state", str(tmp_path / "s.db"))
    bad = corocrawl("crawl", *state, "--revisit-after", "3x", "x")
    assert bad.returncode == 2
    assert "'3x' is not a duration: a number of seconds, or with s, m, h, d or w" in bad.stderr
    backwards = corocrawl("crawl", *state, "--revisit-after", "2h", "--revisit-max", "1h",
                          "http://127.0.0.1:1/")  # fmt: skip
    assert backwards.returncode == 2
    assert "--revisit-min 1h <= --revisit-after 2h <= --revisit-max 1h does not hold" in (
        backwards.stderr
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, Revisit()),
        ({"revisit_after": 600.0}, Revisit(after=600.0, least=600.0)),
        ({"revisit_min": 2 * DAY}, Revisit(after=2 * DAY, least=2 * DAY)),
        ({"revisit_max": DAY / 2}, Revisit(after=DAY / 2, most=DAY / 2)),
    ],
)
def test_the_revisit_options_not_given_make_room_for_those_given(
    given: dict[str, float], expected: Revisit
) -> None:
    args = build_parser().parse_args(["crawl", "http://127.0.0.1:1/"])
    for name, value in given.items():
        setattr(args, name, value)
    assert crawl_config_from_args(args).revisit == expected


def test_max_pages_bounds_each_recrawl_and_what_it_leaves_stays_due(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server()
    common = ("--state", str(tmp_path / "s.db"), "--ignore-robots", "-q")
    first = corocrawl("crawl", f"{server.url}/changing/", "-o", str(tmp_path / "0.jsonl"),
                      *common, "--revisit-after", "1s")  # fmt: skip
    assert first.returncode == 0, first.stderr
    time.sleep(1.2)
    fetched: list[set[str]] = []
    for number in (1, 2):
        out = tmp_path / f"{number}.jsonl"
        # A page revisited is due again in an hour: never in the next run, however late.
        done = corocrawl("crawl", "--recrawl", "--max-pages", "10", "-o", str(out), *common,
                         "--revisit-after", "1h")  # fmt: skip
        assert done.returncode == 0, done.stderr
        records = by_path(out, server.url)
        fetched.append({path for path, record in records.items() if record["status"]})
        left = {path for path, record in records.items() if record["skip"] == "max-pages"}
        assert len(fetched[-1]) == 10  # the budget is this run's, not the crawl's so far
        assert len(left) == 25 - 10 * number  # the rest is left due, for the next run
    assert not fetched[0] & fetched[1]


def test_a_shared_crawl_recrawls_through_redis_and_exports_the_latest_pages(
    start_server: Callable[..., ServerProcess], redis_server: RedisServer, tmp_path: Path
) -> None:
    server = start_server()
    where = ("--frontier", redis_server.url, "--crawl-id", f"recrawl-{uuid.uuid4().hex}",
             "--output-dir", str(tmp_path / "out"))  # fmt: skip
    shared = (*where, "--ignore-robots", "--revisit-after", "1s")
    first = corocrawl("crawl", f"{server.url}/changing/", *shared)
    assert first.returncode == 0, first.stderr
    next_generation(server)
    time.sleep(1.2)
    again = corocrawl("crawl", "--recrawl", *shared)
    assert again.returncode == 0, again.stderr
    assert "recrawl: 25 page(s) due, queued again" in again.stderr
    export = corocrawl("export", *where, "-o", str(tmp_path / "all.jsonl"))
    assert export.returncode == 0, export.stderr
    records = by_path(tmp_path / "all.jsonl", server.url)
    # One record per URL: the new version of each changed page, the first crawl's record of
    # each unchanged one (a 304 has no body to tell of), and the pages the changes led to.
    assert pages(records, change="changed") == numbered(EVERY)
    assert pages(records) == everything_but(numbered(EVERY))
    assert {f"/changing/born/{number}/1" for number in PAGES if number % 3 == EVERY} <= set(records)
    assert all(record["status"] == 200 for record in records.values())


def everything_but(paths: set[str]) -> set[str]:
    return {"/changing/", *(f"/changing/{number}" for number in PAGES)} - paths


def test_a_recrawl_killed_and_resumed_revisits_every_due_page_once(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--site-pages", "400", "--site-links", "4")
    common = ["--state", str(tmp_path / "s.db"), "--ignore-robots", "--concurrency", "4", "-q"]
    first = corocrawl("crawl", f"{server.url}/site/0", "-o", str(tmp_path / "0.jsonl"), *common,
                      "--revisit-after", "1s")  # fmt: skip
    assert first.returncode == 0, first.stderr
    time.sleep(1.2)
    out = tmp_path / "again.jsonl"
    # Revisited, a page is next due in an hour: however long the resume waits, none twice.
    common += ["--revisit-after", "1h"]
    command = [sys.executable, "-m", "corocrawl", "crawl", "--recrawl", "-o", str(out), *common]
    killed = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and killed.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 100:
            break
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    # Resumed a moment later: what the kill left is pending still, with what it last saw.
    resumed = corocrawl("crawl", "--recrawl", "-o", str(out), *common)
    assert resumed.returncode == 0, resumed.stderr
    records = by_path(out, server.url)
    lines = out.read_text().splitlines()
    assert len(lines) == len(records) == 400  # every page once: none lost, none doubled
    assert all(record["status"] == 304 for record in records.values())
    assert all(record["recrawl"]["change"] == "unchanged" for record in records.values())
    assert {record["recrawl"]["interval"] for record in records.values()} == {3600.0}
