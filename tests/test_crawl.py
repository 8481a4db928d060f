"""Crawling the bundled server's synthetic site: scope, depth, robots, politeness, handlers."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from corocrawl import CrawlConfig, FetchConfig, Limits, Politeness, Scope, SkipReason
from corocrawl._crawl.crawler import Crawler, seed_requests
from corocrawl._crawl.parse import Page
from corocrawl._crawl.scope import ScopeRules
from corocrawl._sinks import JsonlSink
from corocrawl._urls import fingerprint
from corocrawl.frontier import Discovered, MemoryFrontier, SqliteFrontier
from corocrawl.testing import ServerProcess, site_links

PAGES, LINKS = 200, 5  # the session server's synthetic site (see conftest.py)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


NO_ROBOTS = Politeness(respect_robots=False)


def depths(pages: int, links: int) -> dict[int, int]:
    """Each page's BFS depth from page 0, computed from the site's own link function."""
    depth = {0: 0}
    frontier = [0]
    while frontier:
        following = []
        for page in frontier:
            for target in site_links(page, pages, links):
                if target not in depth:
                    depth[target] = depth[page] + 1
                    following.append(target)
        frontier = following
    return depth


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def crawl(
    seeds: list[str], out: Path, config: CrawlConfig | None = None, **kwargs: Any
) -> Crawler:
    frontier = MemoryFrontier()
    output = JsonlSink(out)
    crawler = Crawler(config or CrawlConfig(), frontier=frontier, output=output, **kwargs)
    await crawler.run(seeds)
    output.close()
    return crawler


def page_number(url: str) -> int:
    return int(url.rsplit("/", 1)[1])


async def test_crawl_reaches_exactly_the_site_within_depth(
    server: ServerProcess, tmp_path: Path
) -> None:
    out = tmp_path / "pages.jsonl"
    config = CrawlConfig(scope=Scope(max_depth=2), politeness=NO_ROBOTS)
    await crawl([f"{server.url}/site/0"], out, config)
    records = read_records(out)
    by_url = Counter(record["url"] for record in records)
    assert max(by_url.values()) == 1, "a URL was recorded twice"
    expected = depths(PAGES, LINKS)
    fetched = {page_number(r["url"]) for r in records if r["skip"] is None}
    assert fetched == {page for page, depth in expected.items() if depth <= 2}
    too_deep = {page_number(r["url"]) for r in records if r["skip"] == SkipReason.DEPTH}
    assert too_deep == {page for page, depth in expected.items() if depth == 3}
    page_two = next(r for r in records if r["url"].endswith("/site/2"))
    assert (page_two["status"], page_two["depth"], page_two["title"]) == (200, 1, "Page 2")
    assert page_two["found_on"] == f"{server.url}/site/0"
    assert page_two["links"] == len(set(site_links(2, PAGES, LINKS)))


async def test_whole_site_is_crawled_once_without_a_depth_limit(
    server: ServerProcess, tmp_path: Path
) -> None:
    out = tmp_path / "pages.jsonl"
    await crawl([f"{server.url}/site/0"], out, CrawlConfig(politeness=NO_ROBOTS))
    urls = [record["url"] for record in read_records(out)]
    assert len(urls) == len(set(urls)) == PAGES
    assert {page_number(url) for url in urls} == set(range(PAGES))


async def test_robots_rules_are_obeyed_at_the_server(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    robots = tmp_path / "robots.txt"
    robots.write_text("User-agent: *\nDisallow: /site/1\n")
    server = start_server("--site-pages", "30", "--site-links", "3", "--robots-file", str(robots))
    out = tmp_path / "pages.jsonl"
    await crawl([f"{server.url}/site/0"], out)
    records = {record["url"]: record for record in read_records(out)}
    blocked = [url for url, record in records.items() if record["skip"] == SkipReason.ROBOTS]
    assert blocked
    assert all(url.split("/site/")[1].startswith("1") for url in blocked)
    seen_by_server = server.stats()["by_path"]
    assert "/robots.txt" in seen_by_server
    assert not any(path.startswith("/site/1") for path in seen_by_server)


async def test_per_host_limit_holds_at_the_server(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--site-pages", "60", "--site-links", "4")
    config = CrawlConfig(
        fetch=FetchConfig(limits=Limits(concurrency=30, per_host=3)),
        politeness=NO_ROBOTS,
    )
    await crawl([f"{server.url}/site/0"], tmp_path / "pages.jsonl", config)
    port = server.url.rsplit(":", 1)[1]
    assert server.stats()["peak_in_flight_by_host"][f"127.0.0.1:{port}"] <= 3


async def test_handler_items_and_extra_urls(server: ServerProcess, tmp_path: Path) -> None:
    async def titles(page: Page) -> AsyncIterator[dict[str, Any] | str]:
        yield {"title": page.title}
        if page.url.path == "/site/0":
            yield "/status/204"

    items_path = tmp_path / "items.jsonl"
    items = JsonlSink(items_path)
    config = CrawlConfig(scope=Scope(max_depth=1), politeness=NO_ROBOTS)
    await crawl([f"{server.url}/site/0"], tmp_path / "pages.jsonl", config,
                handler=titles, items=items)  # fmt: skip
    items.close()
    titles_found = {item["title"] for item in read_records(items_path)}
    assert "Page 0" in titles_found
    records = {record["url"]: record for record in read_records(tmp_path / "pages.jsonl")}
    assert records[f"{server.url}/status/204"]["status"] == 204


async def test_a_handler_sees_the_response_and_the_parsed_page(
    server: ServerProcess, tmp_path: Path
) -> None:
    """Status and headers, and the tree the links came from (parsed once)."""
    seen: list[Page] = []

    async def headings(page: Page) -> AsyncIterator[dict[str, Any] | str]:
        seen.append(page)
        first = page.css_first("h1")
        yield {
            "heading": None if first is None else first.text(strip=True),
            "items": len(page.css("ul li a")),
            "status": page.status,
            "type": page.headers.get("content-type"),
        }

    items_path = tmp_path / "items.jsonl"
    items = JsonlSink(items_path)
    config = CrawlConfig(scope=Scope(max_depth=0), politeness=NO_ROBOTS)
    await crawl([f"{server.url}/site/0"], tmp_path / "pages.jsonl", config,
                handler=headings, items=items)  # fmt: skip
    items.close()
    (item,) = read_records(items_path)
    assert item == {
        "url": f"{server.url}/site/0",
        "heading": "Page 0",
        "items": LINKS,
        "status": 200,
        "type": "text/html; charset=utf-8",
    }
    (page,) = seen
    assert page.url == URL(f"{server.url}/site/0")
    assert page.tree is not None
    assert len(page.links) == len({*page.links})


async def test_a_handler_that_raises_costs_its_page_only(
    server: ServerProcess, tmp_path: Path
) -> None:
    async def broken(page: Page) -> AsyncIterator[dict[str, Any] | str]:
        if page.url.path == "/site/1":
            raise ValueError("bad page")
        yield {"ok": True}

    config = CrawlConfig(scope=Scope(max_depth=1), politeness=NO_ROBOTS)
    await crawl([f"{server.url}/site/0"], tmp_path / "pages.jsonl", config, handler=broken)
    records = {r["url"]: r for r in read_records(tmp_path / "pages.jsonl")}
    assert records[f"{server.url}/site/1"]["handler_error"] == "ValueError: bad page"
    assert records[f"{server.url}/site/2"]["handler_error"] is None


async def test_a_blocking_handler_is_reported_by_name(
    server: ServerProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def sleepy_handler(page: Page) -> AsyncIterator[dict[str, Any] | str]:
        if page.url.path == "/site/0":
            time.sleep(0.6)  # noqa: ASYNC251 - the blocking call under test
        yield {"ok": True}

    config = CrawlConfig(scope=Scope(max_depth=0), politeness=NO_ROBOTS)
    with caplog.at_level(logging.WARNING, logger="corocrawl"):
        await crawl([f"{server.url}/site/0"], tmp_path / "p.jsonl", config, handler=sleepy_handler)
    assert any("sleepy_handler" in message for message in caplog.messages)


async def test_sqlite_crawl_resumes_without_fetching_again(
    server: ServerProcess, tmp_path: Path
) -> None:
    state, out = tmp_path / "crawl.db", tmp_path / "pages.jsonl"
    config = CrawlConfig(scope=Scope(max_depth=1), politeness=NO_ROBOTS)
    for _ in range(2):
        frontier = await SqliteFrontier.open(state)
        output = JsonlSink(out, append=True)
        await Crawler(config, frontier=frontier, output=output).run([f"{server.url}/site/0"])
        output.close()
        await frontier.close()
    urls = [record["url"] for record in read_records(out)]
    assert len(urls) == len(set(urls))  # the second run found everything done


def test_scope_rules() -> None:
    rules = ScopeRules(
        Scope(allow_domains=("example.org",), exclude=(r"/private",), max_depth=2),
        seed_hosts=["seed.com"],
    )

    def reason(text: str, depth: int = 1) -> str | None:
        return rules.skip_reason(URL(text), text, depth)

    assert reason("http://seed.com/a") is None
    assert reason("http://www.example.org/a") is None
    assert reason("http://example.org/a") is None
    assert reason("http://notexample.org/a") == SkipReason.OFFSITE
    assert reason("http://other.com/") == SkipReason.OFFSITE
    assert reason("http://seed.com/private/x") == SkipReason.EXCLUDED
    assert reason("http://seed.com/a", depth=3) == SkipReason.DEPTH
    only = ScopeRules(Scope(include=(r"/docs/",)), seed_hosts=["seed.com"])
    assert only.skip_reason(URL("http://seed.com/blog"), "http://seed.com/blog", 1) == "excluded"
    assert only.skip_reason(URL("http://seed.com/docs/a"), "http://seed.com/docs/a", 1) is None


async def test_politeness_delay_holds_at_the_server(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--site-pages", "12", "--site-links", "3")
    config = CrawlConfig(
        fetch=FetchConfig(limits=Limits(concurrency=10, per_host=10)),
        politeness=Politeness(delay=0.15, respect_robots=False),
    )
    await crawl([f"{server.url}/site/0"], tmp_path / "pages.jsonl", config)
    port = server.url.rsplit(":", 1)[1]
    stats = server.stats()
    assert stats["requests"] == 12
    # The delay spaces the starts of requests to one host, whatever the concurrency allows.
    assert stats["min_gap_by_host"][f"127.0.0.1:{port}"] >= 0.14  # less a little loopback jitter


async def test_a_failing_robots_txt_is_tried_a_few_times_then_its_urls_are_skipped(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--site-pages", "5", "--site-links", "2", "--robots-status", "503")
    config = CrawlConfig(politeness=Politeness(robots_retry=0.05, robots_tries=3))
    await crawl([f"{server.url}/site/0"], tmp_path / "pages.jsonl", config)
    (record,) = read_records(tmp_path / "pages.jsonl")
    assert record["skip"] == "robots-unavailable"
    assert record["error"]["type"] == "RobotsUnavailable"
    assert "robots.txt of http://127.0.0.1:" in record["error"]["message"]
    assert "failed 3 time(s): status 503" in record["error"]["message"]
    by_path = server.stats()["by_path"]
    assert by_path["/robots.txt"] == 3  # the first ask and two more, then given up
    assert "/site/0" not in by_path


async def test_skips_cost_no_politeness_delay(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """With a 30 s delay, 1 fetch and 30 skips (depth, robots) end at once: a skip sends
    nothing, so it neither waits for its host's turn nor makes the next one wait."""
    robots = tmp_path / "robots.txt"
    robots.write_text("User-agent: *\nAllow: /site/0$\nDisallow: /site/\n")
    server = start_server("--site-pages", "40", "--site-links", "30", "--robots-file", str(robots))
    for depth, reason in ((0, "depth"), (1, "robots")):
        out = tmp_path / f"{reason}.jsonl"
        config = CrawlConfig(scope=Scope(max_depth=depth), politeness=Politeness(delay=30.0))
        async with asyncio.timeout(20):  # a skip waiting out the delay would take 15 minutes
            await crawl([f"{server.url}/site/0"], out, config)
        skips = Counter(record["skip"] for record in read_records(out))
        assert skips[None] == 1
        assert skips[reason] >= 20
        assert set(skips) == {None, reason}


@pytest.mark.parametrize(
    "target", ["/robots-moved.txt", "http://127.0.0.2:{port}/robots-moved.txt"]
)
async def test_robots_txt_behind_a_redirect_is_followed_and_obeyed(
    start_server: Callable[..., ServerProcess], tmp_path: Path, target: str
) -> None:
    """RFC 9309 2.3.1.2: the rules at the end of robots.txt's redirects (another host's too)
    apply; a 301 is not "no rules"."""
    robots = tmp_path / "robots.txt"
    robots.write_text("User-agent: *\nDisallow: /site/1\n")
    port = _free_port()
    server = start_server("--port", str(port), "--also-listen", "127.0.0.2",
                          "--site-pages", "12", "--site-links", "3", "--robots-file", str(robots),
                          "--robots-redirect", target.format(port=port))  # fmt: skip
    await crawl([f"{server.url}/site/0"], tmp_path / "pages.jsonl", CrawlConfig())
    records = {record["url"]: record for record in read_records(tmp_path / "pages.jsonl")}
    assert records[f"{server.url}/site/1"]["skip"] == "robots"
    assert "/site/1" not in server.stats()["by_path"]  # disallowed: never fetched
    assert records[f"{server.url}/site/2"]["status"] == 200


async def test_a_huge_robots_txt_is_read_up_to_its_cap(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    robots = tmp_path / "robots.txt"
    robots.write_text("User-agent: *\nDisallow: /site/1\n" + "# padding\n" * 150_000)
    server = start_server("--site-pages", "8", "--site-links", "2", "--robots-file", str(robots))
    config = CrawlConfig(fetch=FetchConfig(limits=Limits(max_body_bytes=100_000)))
    await crawl([f"{server.url}/site/0"], tmp_path / "pages.jsonl", config)
    records = {r["url"]: r for r in read_records(tmp_path / "pages.jsonl")}
    assert records[f"{server.url}/site/0"]["status"] == 200
    assert records[f"{server.url}/site/1"]["skip"] == SkipReason.ROBOTS


async def test_resuming_from_the_state_alone_keeps_the_seeds_scope(
    server: ServerProcess, tmp_path: Path
) -> None:
    state, out = tmp_path / "crawl.db", tmp_path / "pages.jsonl"
    # A crawl that died right after taking its seed: only the seed is in the state.
    seed = f"{server.url}/site/0"
    frontier = await SqliteFrontier.open(state)
    await frontier.add([Discovered(fingerprint(seed), seed, depth=0)])
    await frontier.close()

    frontier = await SqliteFrontier.open(state)
    await crawl_with(frontier, [], out, Scope(max_depth=1))  # no seeds given this time
    records = read_records(out)
    assert not any(record["skip"] == SkipReason.OFFSITE for record in records)
    assert sum(record["depth"] == 1 and record["status"] == 200 for record in records) > 0


async def crawl_with(frontier: SqliteFrontier, seeds: list[str], out: Path, scope: Scope) -> None:
    output = JsonlSink(out, append=True)
    config = CrawlConfig(scope=scope, politeness=NO_ROBOTS)
    try:
        await Crawler(config, frontier=frontier, output=output).run(seeds)
    finally:
        output.close()
        await frontier.close()


async def test_redirect_targets_are_checked_like_links(
    server: ServerProcess, tmp_path: Path
) -> None:
    port = server.url.rsplit(":", 1)[1]
    offsite = f"http://localhost:{port}/status/200"
    seeds = [f"{server.url}/redirect/2", f"{server.url}/redirect-to?url={offsite}",
             f"{server.url}/redirect-loop"]  # fmt: skip
    server.reset_stats()
    await crawl(seeds, tmp_path / "pages.jsonl", CrawlConfig(politeness=NO_ROBOTS))
    records = {record["url"]: record for record in read_records(tmp_path / "pages.jsonl")}
    # A chain on the site: every hop is a URL of its own, recorded once.
    assert records[f"{server.url}/redirect/2"]["status"] == 302
    assert records[f"{server.url}/redirect/2"]["redirect"] == f"{server.url}/redirect/1"
    assert records[f"{server.url}/redirect/0"]["status"] == 200
    # Off the site: recorded as offsite and never requested.
    assert records[offsite]["skip"] == SkipReason.OFFSITE
    assert "/status/200" not in server.stats()["by_path"]
    # A loop ends at the seen-set: one record, one request.
    assert records[f"{server.url}/redirect-loop"]["redirect"] == f"{server.url}/redirect-loop"
    assert server.stats()["by_path"]["/redirect-loop"] == 1
    assert len(records) == len(read_records(tmp_path / "pages.jsonl"))


async def test_max_pages_counts_fetches_not_skips_across_a_resume(
    server: ServerProcess, tmp_path: Path
) -> None:
    state = tmp_path / "crawl.db"
    seed = f"{server.url}/site/0"
    frontier = await SqliteFrontier.open(state)
    offsite = [f"http://elsewhere.example/{i}" for i in range(20)]
    await frontier.add([Discovered(fingerprint(seed), seed, depth=0)])
    await frontier.add([Discovered(fingerprint(u), u, 1, seed, "offsite") for u in offsite])
    # The last run recorded the skips, then was killed with the seed still leased.
    skipped = [leased.id for leased in await frontier.claim(100) if leased.skip]
    await frontier.complete([], skipped=skipped)
    await frontier.close()

    frontier = await SqliteFrontier.open(state)
    output = JsonlSink(tmp_path / "pages.jsonl")
    config = CrawlConfig(scope=Scope(max_pages=4), politeness=NO_ROBOTS)
    await Crawler(config, frontier=frontier, output=output).run([])
    output.close()
    counts = frontier.counts()
    await frontier.close()
    fetched = [r for r in read_records(tmp_path / "pages.jsonl") if r["status"] == 200]
    assert len(fetched) == 4  # 20 skips before the resume did not use up the budget
    assert counts.done == 4


async def test_a_clean_stop_gives_unfetched_requests_back(
    server: ServerProcess, tmp_path: Path
) -> None:
    frontier = MemoryFrontier()
    output = JsonlSink(tmp_path / "pages.jsonl")
    config = CrawlConfig(
        fetch=FetchConfig(limits=Limits(concurrency=4, per_host=4)),
        politeness=NO_ROBOTS,
    )

    async def stop_early(page: Page) -> AsyncIterator[dict[str, Any] | str]:
        if page.url.path == "/site/3":
            crawler.stop()
        yield {}

    crawler = Crawler(config, frontier=frontier, output=output, handler=stop_early)
    await crawler.run([f"{server.url}/site/0"])
    output.close()
    counts = frontier.counts()
    recorded = len(read_records(tmp_path / "pages.jsonl"))
    assert counts.leased == 0  # nothing left held: what was not fetched is pending again
    assert counts.pending > 0
    assert counts.done + counts.failed + counts.skipped == recorded


async def test_a_seed_added_to_a_running_crawl_is_crawled_within_its_own_host(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--delay", "0", "--site-pages", "50", "--also-listen", "127.0.0.2")
    first, second = f"{server.url}/site/0", f"{server.url.replace('127.0.0.1', '127.0.0.2')}/site/0"
    frontier = MemoryFrontier()
    output = JsonlSink(tmp_path / "pages.jsonl")
    config = CrawlConfig(scope=Scope(max_depth=1), politeness=NO_ROBOTS)

    async def add_a_seed(page: Page) -> AsyncIterator[dict[str, Any] | str]:
        # What `crawl --frontier redis://... --crawl-id ID NEW_SEED` does to running workers.
        if page.url.path == "/site/0" and page.url.host == "127.0.0.1":
            await frontier.add(seed_requests([second], sort_query=False))
        return
        yield

    await Crawler(config, frontier=frontier, output=output, handler=add_a_seed).run([first])
    output.close()
    records = read_records(tmp_path / "pages.jsonl")
    added_site = [record for record in records if "127.0.0.2" in record["url"]]
    assert "offsite" not in {record.get("skip") for record in added_site}
    fetched = {record["url"] for record in added_site if record["status"] == 200}
    assert fetched == {second} | {f"{second[:-1]}{page}" for page in site_links(0, 50, 10)}


@pytest.mark.parametrize("concurrency", [4, 64, 256])
async def test_a_stopped_crawl_holds_no_lease(
    start_server: Callable[..., ServerProcess], tmp_path: Path, concurrency: int
) -> None:
    """A clean stop gives back every request it claimed and did not fetch, however far into
    a claimed batch it came: none is left held until a lease expires (a shared frontier)."""
    server = start_server("--delay", "0", "--site-pages", "5000", "--site-links", "20")
    frontier = MemoryFrontier()
    output = JsonlSink(tmp_path / "pages.jsonl")
    config = CrawlConfig(
        fetch=FetchConfig(limits=Limits(concurrency=concurrency, per_host=2)),
        politeness=NO_ROBOTS,
    )
    crawler = Crawler(config, frontier=frontier, output=output)
    running = asyncio.create_task(crawler.run([f"{server.url}/site/0"]))
    while crawler.stats.recorded < 300 and not running.done():  # noqa: ASYNC110 - a count
        await asyncio.sleep(0.005)
    crawler.stop()
    await running
    output.close()
    counts = frontier.counts()
    assert counts.pending > 0  # stopped midway
    assert counts.leased == 0
    assert counts.done == len(read_records(tmp_path / "pages.jsonl"))
