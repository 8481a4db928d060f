"""Sitemaps: read in every form a site publishes them, bounded as the protocol says, and
crawled through the same scope, robots and dedupe checks as links (the bundled /sitemaps/ site
publishes its pages in sitemaps only)."""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
import subprocess
import sys
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import RedisServer
from yarl import URL

from corocrawl import CrawlConfig, FetchConfig, Limits, Politeness, Sitemaps, distributed
from corocrawl._crawl.sitemaps import SITEMAP_MAX_URLS, parse_date, read_sitemap
from corocrawl.frontier import Discovered, SqliteFrontier
from corocrawl.testing import ServerProcess
from corocrawl.testing._sitemaps import NEW_LASTMOD, OLD_LASTMOD

BASE = URL("https://example.org/sitemap.xml")
XMLNS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
# Every page the index's sitemaps list: 26 is listed by the sitemap cut short, before the cut.
INDEXED_PAGES = {f"/sitemaps/page/{number}" for number in range(27)}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose robots.txt names the sitemap index (by a relative URL)."""
    robots = tmp_path_factory.mktemp("robots") / "robots.txt"
    robots.write_text("User-agent: *\nDisallow: /sitemaps/page/7\nSitemap: /sitemaps/index.xml\n")
    server = ServerProcess("--delay", "0", "--robots-file", str(robots))
    server.start()
    yield server
    server.stop()


def corocrawl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corocrawl", *args], capture_output=True, text=True, timeout=120
    )


def records_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def crawled(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    """The records of `corocrawl crawl ARGS`, which must end well."""
    out = tmp_path / "pages.jsonl"
    done = corocrawl("crawl", *args, "-o", str(out))
    assert done.returncode == 0, done.stderr
    return records_of(out)


def by_path(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {URL(record["url"]).path: record for record in records}


# Reading one sitemap.


def urls_of(body: bytes, **options: Any) -> list[str]:
    return [entry.url for entry in read_sitemap(body, BASE, **options).pages]


def test_an_xml_sitemap_gives_its_page_urls_not_its_images() -> None:
    body = f"""<?xml version="1.0"?>
<urlset {XMLNS} xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
<url><loc>https://example.org/a</loc><lastmod>2026-01-01</lastmod>
  <image:image><image:loc>https://example.org/a.png</image:loc></image:image></url>
<url><loc> /b </loc></url>
<url><loc>ftp://example.org/c</loc></url>
</urlset>""".encode()
    content = read_sitemap(body, BASE)
    assert content.kind == "urlset"
    assert [(e.url, e.lastmod) for e in content.pages] == [
        ("https://example.org/a", "2026-01-01"),
        ("https://example.org/b", None),
    ]
    assert (content.invalid, content.error) == (1, None)


def test_a_sitemap_index_gives_sitemaps() -> None:
    body = f"<sitemapindex {XMLNS}><sitemap><loc>https://example.org/s.xml.gz</loc></sitemap>"
    content = read_sitemap(f"{body}</sitemapindex>".encode(), BASE)
    assert (content.kind, content.pages) == ("sitemapindex", [])
    assert [entry.url for entry in content.sitemaps] == ["https://example.org/s.xml.gz"]


def test_text_rss_and_atom_sitemaps_are_read() -> None:
    text = b"https://example.org/t1\n\n  https://example.org/t2\r\nnot a url\n/relative\n"
    content = read_sitemap(text, BASE)
    assert [e.url for e in content.pages] == ["https://example.org/t1", "https://example.org/t2"]
    assert (content.kind, content.invalid) == ("text", 2)
    rss = (b'<rss version="2.0"><channel><link>https://example.org/</link><item>'
           b"<link>https://example.org/p1</link><pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate>"
           b"</item></channel></rss>")  # fmt: skip
    assert urls_of(rss) == ["https://example.org/p1"]
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><link href="https://example.org/"/>'
            b'<entry><link rel="edit" href="https://example.org/edit"/>'
            b'<link href="https://example.org/e1"/></entry></feed>')  # fmt: skip
    assert urls_of(atom) == ["https://example.org/e1"]


def test_a_gzipped_sitemap_is_unpacked_whatever_its_content_type_says() -> None:
    body = gzip.compress(f"<urlset {XMLNS}><url><loc>/a</loc></url></urlset>".encode())
    assert urls_of(body) == ["https://example.org/a"]


def test_since_leaves_out_older_entries_and_keeps_undated_ones() -> None:
    body = f"""<urlset {XMLNS}>
<url><loc>/new</loc><lastmod>{NEW_LASTMOD}</lastmod></url>
<url><loc>/old</loc><lastmod>{OLD_LASTMOD}</lastmod></url>
<url><loc>/month</loc><lastmod>2026-12</lastmod></url>
<url><loc>/undated</loc></url>
<url><loc>/unreadable</loc><lastmod>last tuesday</lastmod></url>
</urlset>""".encode()
    content = read_sitemap(body, BASE, since=datetime(2026, 1, 1, tzinfo=UTC))
    assert [URL(e.url).path for e in content.pages] == ["/new", "/month", "/undated", "/unreadable"]
    assert content.older == 1


def test_dates_in_every_form_sitemaps_and_feeds_write_them() -> None:
    utc = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert parse_date("2026-11-30T11:00:00+01:00") == utc
    assert parse_date("2026-11-30T10:00Z") == utc
    assert parse_date("Mon, 30 Nov 2026 10:00:00 GMT") == utc
    assert parse_date("2026") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_date("2026-11") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_date("soon") is None


def test_a_sitemap_over_50000_urls_gives_the_first_50000_and_counts_the_rest() -> None:
    entries = "".join(f"<url><loc>/p{n}</loc></url>" for n in range(SITEMAP_MAX_URLS + 7))
    content = read_sitemap(f"<urlset>{entries}</urlset>".encode(), BASE)
    assert (len(content.pages), content.over_cap) == (SITEMAP_MAX_URLS, 7)
    assert content.pages[-1].url == f"https://example.org/p{SITEMAP_MAX_URLS - 1}"


def test_a_gzip_bomb_is_read_up_to_the_cap_and_no_further() -> None:
    inside = b"<urlset><url><loc>/a</loc></url>" + b" " * (8 << 20) + b"</urlset>"
    content = read_sitemap(gzip.compress(inside), BASE, max_bytes=1 << 20)
    assert [entry.url for entry in content.pages] == ["https://example.org/a"]
    assert content.error == "larger than 1 MiB uncompressed: read up to there"


@pytest.mark.parametrize("encoding", ["no-such-encoding", "utf-7", "cp932"])
def test_an_xml_encoding_the_parser_cannot_read_is_the_sitemaps_error(encoding: str) -> None:
    body = f'<?xml version="1.0" encoding="{encoding}"?><urlset></urlset>'.encode()
    content = read_sitemap(body, BASE)
    assert content.pages == []
    assert content.error is not None
    assert content.error.startswith(("unreadable XML", "not well-formed XML"))


@pytest.mark.parametrize(
    "body",
    [
        b"<urlset>" + b"<x/>" * 1_250_000 + b"</urlset>",  # 5 MB of elements that are no entry
        b"https://example.org/a\n" * 250_000,  # 5 MB of text lines
    ],
    ids=["xml", "text"],
)
def test_reading_a_large_sitemap_takes_memory_for_what_it_keeps_not_for_its_size(
    body: bytes,
) -> None:
    tracemalloc.start()
    try:
        content = read_sitemap(body, BASE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert content.error is None
    assert peak < 25 * 2**20  # kept whole, the XML tree took 100 MB and the lines 100 MB


def test_an_entity_expansion_bomb_is_refused_by_the_parser() -> None:
    entities = '<!ENTITY a0 "aaaaaaaaaa">' + "".join(
        f'<!ENTITY a{n} "{f"&a{n - 1};" * 10}">' for n in range(1, 10)
    )
    body = f'<?xml version="1.0"?><!DOCTYPE urlset [{entities}]><urlset><url><loc>&a9;</loc>'
    content = read_sitemap(f"{body}</url></urlset>".encode(), BASE)
    assert content.pages == []
    assert content.error is not None
    assert "amplification" in content.error


def test_a_sitemap_cut_short_keeps_what_came_before_the_cut() -> None:
    body = f"<urlset {XMLNS}><url><loc>/a</loc></url><url><loc>/b"
    content = read_sitemap(body.encode(), BASE)
    assert [entry.url for entry in content.pages] == ["https://example.org/a"]
    assert content.error is not None
    assert content.error.startswith("not well-formed XML")


# A crawl with --sitemaps.


def test_a_crawl_with_sitemaps_reaches_pages_only_sitemaps_list(
    site: ServerProcess, tmp_path: Path
) -> None:
    records = crawled(tmp_path, "--sitemaps", f"{site.url}/sitemaps/")
    paths = by_path(records)
    assert len(paths) == len(records)  # one record per URL: the index that lists itself too
    fetched = {path for path, record in paths.items() if record["status"] == 200}
    # Through robots.txt like links: page 7 is disallowed.
    assert fetched >= INDEXED_PAGES - {"/sitemaps/page/7"}
    assert paths["/sitemaps/page/7"]["skip"] == "robots"
    index = paths["/sitemaps/index.xml"]
    assert index["found_on"] == f"{site.url}/robots.txt"
    assert index["sitemap"] == {"kind": "sitemapindex", "urls": 0, "sitemaps": 9}
    kinds = {path: paths[path]["sitemap"]["kind"] for path in paths if paths[path].get("sitemap")}
    assert kinds["/sitemaps/pages.xml.gz"] == "urlset"
    assert (kinds["/sitemaps/list.txt"], kinds["/sitemaps/feed.rss"]) == ("text", "rss")
    assert kinds["/sitemaps/feed.atom"] == "atom"
    # The bomb and the sitemap cut short end as records, saying why.
    assert "larger than 50 MiB" in paths["/sitemaps/bomb.xml.gz"]["sitemap"]["error"]
    assert paths["/sitemaps/broken.xml"]["sitemap"]["urls"] == 1
    assert "not well-formed" in paths["/sitemaps/broken.xml"]["sitemap"]["error"]
    # Indexes nested for ever stop at the nesting allowed (3), as a record.
    assert paths["/sitemaps/nested/2.xml"]["status"] == 200
    assert paths["/sitemaps/nested/3.xml"]["skip"] == "sitemap-too-deep"
    assert "/sitemaps/nested/4.xml" not in paths
    # A page a sitemap lists is one hop from the page that led to the site, like its sitemaps.
    assert paths["/sitemaps/page/3"]["depth"] == 1
    assert paths["/sitemaps/page/3"]["found_on"] == f"{site.url}/sitemaps/pages.xml"


def test_without_sitemaps_a_crawl_reads_none(site: ServerProcess, tmp_path: Path) -> None:
    records = crawled(tmp_path, f"{site.url}/sitemaps/")
    assert [URL(record["url"]).path for record in records] == ["/sitemaps/"]


def test_sitemap_since_leaves_out_the_older_pages(site: ServerProcess, tmp_path: Path) -> None:
    only_dated = r"/sitemaps/(index|pages)\.xml$|/page/"
    paths = by_path(crawled(tmp_path, "--sitemap-since", "2026-01-01", "--include", only_dated,
                            f"{site.url}/sitemaps/"))  # fmt: skip
    assert paths["/sitemaps/pages.xml"]["sitemap"]["older"] == 5
    listed = {path for path in paths if path.startswith("/sitemaps/page/")}
    assert listed == {f"/sitemaps/page/{number}" for number in range(0, 10, 2)}


def test_a_host_whose_robots_txt_names_no_sitemap_has_its_sitemap_xml_read(
    server: ServerProcess, tmp_path: Path
) -> None:
    paths = by_path(crawled(tmp_path, "--sitemaps", f"{server.url}/sitemaps/"))
    assert paths["/sitemap.xml"]["sitemap"]["urls"] == 3
    assert {f"/sitemaps/page/{number}" for number in (27, 28, 29)} <= set(paths)


def test_sitemaps_are_read_where_robots_txt_is_not_obeyed(
    site: ServerProcess, tmp_path: Path
) -> None:
    paths = by_path(crawled(tmp_path, "--sitemaps", "--ignore-robots", f"{site.url}/sitemaps/"))
    assert paths["/sitemaps/page/7"]["status"] == 200  # not obeyed: the page is fetched
    assert set(paths) >= INDEXED_PAGES


def test_sitemap_urls_meet_the_crawls_scope(site: ServerProcess, tmp_path: Path) -> None:
    paths = by_path(crawled(tmp_path, "--sitemaps", f"{site.url}/sitemaps/",
                            "--exclude", "/page/1[0-9]$"))  # fmt: skip
    assert {paths[f"/sitemaps/page/{n}"]["skip"] for n in range(10, 20)} == {"excluded"}


def test_a_crawl_with_sitemaps_on_worker_processes_reaches_the_same_pages(
    site: ServerProcess, tmp_path: Path
) -> None:
    paths = by_path(crawled(tmp_path, "--sitemaps", "--workers", "2", f"{site.url}/sitemaps/"))
    assert {path for path, r in paths.items() if r["status"] == 200} >= INDEXED_PAGES - {
        "/sitemaps/page/7"
    }
    assert paths["/sitemaps/nested/3.xml"]["skip"] == "sitemap-too-deep"


def test_a_shared_crawl_reads_sitemaps_in_every_worker(
    site: ServerProcess, redis_server: RedisServer, tmp_path: Path
) -> None:
    crawl_id, out = f"sitemaps-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    config = CrawlConfig(
        sitemaps=Sitemaps(since=datetime(2026, 1, 1, tzinfo=UTC), nesting=2),
        politeness=Politeness(respect_robots=True),
        fetch=FetchConfig(limits=Limits(concurrency=16, per_host=4)),
    )
    asyncio.run(distributed.start(redis_server.url, crawl_id, [f"{site.url}/sitemaps/"], config))
    exits = distributed.join(redis_server.url, crawl_id, CrawlConfig(), output_dir=out,
                             processes=2)  # fmt: skip
    assert exits.codes == (0, 0)
    distributed.export(redis_server.url, crawl_id, tmp_path / "all.jsonl", output_dir=out)
    paths = by_path(records_of(tmp_path / "all.jsonl"))
    assert paths["/sitemaps/pages.xml"]["sitemap"]["older"] == 5  # the saved `since` applied
    assert paths["/sitemaps/nested/2.xml"]["skip"] == "sitemap-too-deep"  # and the nesting
    assert "/sitemaps/page/1" not in paths
    assert "/sitemaps/page/20" in paths


def test_a_state_file_keeps_which_requests_are_sitemaps(tmp_path: Path) -> None:
    async def roundtrip() -> list[tuple[int, int]]:
        frontier = await SqliteFrontier.open(tmp_path / "state.db")
        url = "https://example.org/sitemap.xml"
        await frontier.add([Discovered(b"f" * 16, url, 1, None, None, host_depth=4, sitemap=2)])
        await frontier.close()
        frontier = await SqliteFrontier.open(tmp_path / "state.db")
        leased = await frontier.claim(5)
        await frontier.close()
        return [(one.host_depth, one.sitemap) for one in leased]

    assert asyncio.run(roundtrip()) == [(4, 2)]


def test_a_state_file_from_before_sitemaps_resumes(tmp_path: Path) -> None:
    """An older state file, without the columns added since, gains them on open."""
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE requests (id INTEGER PRIMARY KEY, fingerprint BLOB NOT NULL UNIQUE, "
        "url TEXT NOT NULL, depth INTEGER NOT NULL, referrer TEXT, skip TEXT, "
        "state INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO requests (fingerprint, url, depth) VALUES (x'01', 'https://a.org/', 0);"
    )
    old.commit()
    old.close()

    async def resume() -> list[tuple[str, int, int]]:
        frontier = await SqliteFrontier.open(path)
        leased = await frontier.claim(5)
        await frontier.close()
        return [(one.url, one.host_depth, one.sitemap) for one in leased]

    assert asyncio.run(resume()) == [("https://a.org/", 0, 0)]


# corocrawl sitemap URL


def test_the_sitemap_command_lists_a_sites_urls_as_jsonl(site: ServerProcess) -> None:
    done = corocrawl("sitemap", f"{site.url}/")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert {URL(record["url"]).path for record in records} == INDEXED_PAGES
    first = records[0]
    assert set(first) == {"url", "lastmod", "sitemap"}
    dated = {URL(r["url"]).path: r["lastmod"] for r in records if r["lastmod"] is not None}
    assert dated["/sitemaps/page/0"] == NEW_LASTMOD
    assert "bomb.xml.gz: urlset, 0 URLs; larger than 50 MiB uncompressed" in done.stderr
    assert "nested/2.xml: sitemapindex, 0 URLs, 1 sitemaps, 1 too deep" in done.stderr
    assert done.stderr.rstrip().endswith("27 URLs from 10 of 10 sitemaps")


def test_the_sitemap_command_reads_one_sitemap_with_since(
    site: ServerProcess, tmp_path: Path
) -> None:
    out, stats = tmp_path / "urls.jsonl", tmp_path / "stats.json"
    done = corocrawl("sitemap", f"{site.url}/sitemaps/pages.xml", "--since", "2026-01-01",
                     "-o", str(out), "-q", "--stats-json", str(stats))  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    paths = [URL(record["url"]).path for record in records_of(out)]
    assert paths == [f"/sitemaps/page/{number}" for number in range(0, 10, 2)]
    assert json.loads(stats.read_text()) == {"urls": 5, "sitemaps": 1, "sitemaps_read": 1}


def test_the_sitemap_command_caps_a_huge_sitemap(site: ServerProcess) -> None:
    done = corocrawl("sitemap", f"{site.url}/sitemaps/many.xml?n={SITEMAP_MAX_URLS + 10}")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == SITEMAP_MAX_URLS
    assert "50,000 URLs, 10 past the cap" in done.stderr


def test_the_sitemap_command_says_when_no_sitemap_could_be_read(
    server: ServerProcess,
) -> None:
    done = corocrawl("sitemap", f"{server.url}/sitemaps/missing.xml")
    assert done.returncode == 1
    assert "status 404, not read" in done.stderr
    bad = corocrawl("sitemap", "ftp://example.org/")
    assert bad.returncode == 2
    assert "error: URL 'ftp://example.org/'" in bad.stderr
    assert "Traceback" not in bad.stderr
