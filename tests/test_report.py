"""`corocrawl report`: real crawls and fetches of the bundled server, then their report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tracemalloc
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from selectolax.lexbor import LexborHTMLParser

import corocrawl
from corocrawl._report.aggregate import Aggregate
from corocrawl._report.records import MAX_LINE, read_rows
from corocrawl._report.redirects import EDGES
from corocrawl.testing import ServerProcess

# What the crawl's seed page leads to besides the site, through a handler: broken links, a
# redirect chain, a chain into a loop, a loop alone, a slow page, a failure and an offsite link.
EXTRAS = """
async def extras(page):
    if page.url.path == "/site/0":
        for url in ["/status/404", "/status/500", "/redirect/3", "/redirect-loop",
                    "/redirect-to?url=/redirect-loop", "/delay/1", "/reset",
                    "http://other.example/away"]:
            yield url
"""
CHROMIUM = "/usr/bin/chromium"


def corocrawl_command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # As a user runs it: the handler module is found in the current directory.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "corocrawl", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def site() -> Iterator[ServerProcess]:
    server = ServerProcess("--delay", "0", "--site-pages", "30", "--site-links", "3")
    server.start()
    yield server
    server.stop()


def crawl(site: ServerProcess, folder: Path, output: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "more_links.py").write_text(EXTRAS)
    done = corocrawl_command(
        "crawl", f"{site.url}/site/0", "-o", output, "--page-requisites", "--retries", "0",
        "--handler", "more_links:extras", "--items", "items.jsonl", "-q", cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder / output


@pytest.fixture(scope="module")
def crawled(site: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return crawl(site, tmp_path_factory.mktemp("crawl"), "pages.jsonl")


@pytest.fixture(scope="module")
def fetched(site: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fetch")
    paths = ["/redirect/3", "/redirect-loop", "/status/404", "/site/1", "/reset", "/bytes/5000"]
    (folder / "urls.txt").write_text("".join(f"{site.url}{path}\n" for path in paths))
    done = corocrawl_command("fetch", "urls.txt", "-o", "results.jsonl", "--retries", "0",
                             "-q", cwd=folder)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder / "results.jsonl"


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def report(
    *inputs: Path, output: Path
) -> tuple[LexborHTMLParser, subprocess.CompletedProcess[str]]:
    done = corocrawl_command("report", *map(str, inputs), "-o", str(output), cwd=output.parent)
    assert done.returncode == 0, done.stderr
    return LexborHTMLParser(output.read_text()), done


def card(page: LexborHTMLParser, label: str) -> str:
    for node in page.css("#totals .card"):
        if node.css_first(".label").text() == label:
            return node.css_first(".value").text()
    raise AssertionError(f"no card {label!r}")


def table(page: LexborHTMLParser, section: str, heading: str | None = None) -> list[list[str]]:
    """The rows (cells' text) of the table under `heading` (an h3) in a section, else its
    first table."""
    root = page.css_first(f"section#{section}")
    if heading is not None:
        root = next(div for div in root.css("div") if div.css_first("h3").text() == heading)
    return [[cell.text() for cell in row.css("td")] for row in root.css_first("table").css("tr")
            if row.css("td")]  # fmt: skip


def test_a_crawl_report_counts_what_the_crawl_recorded(crawled: Path) -> None:
    """README, Crawl report: totals, status by class and code, failures by error and skip
    reasons, each as the records have them."""
    page, done = report(crawled, output=crawled.with_name("report.html"))
    pages = records(crawled)
    responses = [one for one in pages if one["status"] is not None]
    failed = [one for one in pages if one["status"] is None and one["skip"] is None]
    skipped = [one for one in pages if one["skip"] is not None]
    assert card(page, "records") == f"{len(pages):,}"
    assert card(page, "fetched (a response)") == str(len(responses))
    assert card(page, "HTTP errors (4xx, 5xx)") == str(
        sum(one["status"] >= 400 for one in responses)
    )
    assert card(page, "failed (no response)") == str(len(failed)) == "1"  # /reset
    assert card(page, "skipped") == str(len(skipped))
    moments = [one["fetched_at"] for one in pages if "fetched_at" in one]
    assert card(page, "time span") != "\u2014"
    rate = float(card(page, "pages/s overall").replace(",", ""))
    assert rate == pytest.approx(len(moments) / (max(moments) - min(moments)), rel=0.01)
    codes = Counter(one["status"] for one in responses)
    assert {int(code): int(n) for code, n in table(page, "status", "By status")} == codes
    assert {302, 404, 500, 200} <= set(codes)
    classes = dict(table(page, "status", "By class"))
    assert classes["3xx"] == str(sum(n for code, n in codes.items() if 300 <= code < 400))
    assert classes["no response"] == "1"
    assert table(page, "status", "Failures by error") == [["ReadError", "1"]]
    assert table(page, "skips") == [["offsite", str(len(skipped))]]
    assert f"{len(pages)} records" in done.stderr


def test_a_crawl_report_has_a_row_per_host_with_its_pages_errors_latency_and_bytes(
    crawled: Path,
) -> None:
    """README, Crawl report: the per-host table."""
    page, _ = report(crawled, output=crawled.with_name("hosts.html"))
    pages = [one for one in records(crawled) if one["skip"] is None]
    ((host, count, errors, median, size),) = table(page, "hosts")
    assert host == "127.0.0.1"
    assert int(count) == len(pages)
    assert int(errors) == sum(one["status"] is None or one["status"] >= 400 for one in pages)
    assert re.fullmatch(r"[\d.]+ (\u00b5s|ms)", median)
    assert size.endswith("kB")


def test_a_crawl_report_lists_broken_links_with_the_page_they_were_found_on(
    crawled: Path, site: ServerProcess
) -> None:
    """README, Crawl report: each 4xx, 5xx or failed URL, with the page that links to it."""
    page, _ = report(crawled, output=crawled.with_name("broken.html"))
    rows = {url: (outcome, found_on) for url, outcome, found_on in table(page, "broken")}
    seed = f"{site.url}/site/0"
    assert rows[f"{site.url}/status/404"] == ("404", seed)
    assert rows[f"{site.url}/status/500"] == ("500", seed)
    assert rows[f"{site.url}/reset"] == ("ReadError", seed)
    assert rows[f"{site.url}/site/logo.png"] == ("404", seed)  # a page requisite
    assert len(rows) == 4
    links = {node.attributes["href"] for node in page.css("section#broken a")}
    assert f"{site.url}/status/404" in links


def test_a_crawl_report_follows_redirect_chains_across_records_and_finds_the_loop(
    crawled: Path, site: ServerProcess
) -> None:
    """README, Crawl report: a chain is followed from record to record by URL; a chain that
    comes back to a URL already in it is a loop."""
    page, _ = report(crawled, output=crawled.with_name("redirects.html"))
    section = page.css_first("section#redirects")
    chains = [[item.text(strip=True) for item in chain.css("li")]
              for chain in section.css("ol.chain")]  # fmt: skip
    loop = f"{site.url}/redirect-loop"
    into_the_loop = [
        f"{site.url}/redirect-to?url=/redirect-loop302 \u2192",
        f"{loop}302 \u2192",
        f"{loop}back again: a loop",
    ]
    assert into_the_loop in chains
    assert [
        f"{site.url}/redirect/3302 \u2192",
        f"{site.url}/redirect/2302 \u2192",
        f"{site.url}/redirect/1302 \u2192",
        f"{site.url}/redirect/0200",
    ] in chains
    notes = " ".join(node.text() for node in section.css("p.note"))
    assert "5 redirects recorded by a crawl" in notes
    assert "2 chains, 1 loop." in notes  # the loop alone is part of the chain into it
    assert table(page, "redirects") == [["2", "1"], ["3", "1"]]  # hops, chains


def test_a_self_redirect_with_nothing_leading_into_it_is_a_loop(tmp_path: Path) -> None:
    """Redirects that only go round (A -> B -> A) are found though no chain starts outside."""
    lines = [
        {"url": "http://a.example/1", "status": 301, "depth": 1, "redirect": "http://a.example/2"},
        {"url": "http://a.example/2", "status": 308, "depth": 2, "redirect": "http://a.example/1"},
        {"url": "http://a.example/3", "status": 302, "depth": 1},  # no Location
    ]
    source = tmp_path / "loop.jsonl"
    source.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    summary = corocrawl.write_report([source], tmp_path / "loop.html")
    assert summary.redirect_loops == 1
    html = (tmp_path / "loop.html").read_text()
    assert "1 redirect response named no target" in html


def test_the_slowest_and_largest_pages_are_listed_first(crawled: Path, site: ServerProcess) -> None:
    """README, Crawl report: the slowest and largest pages (20 of each, by a bounded heap)."""
    page, _ = report(crawled, output=crawled.with_name("slow.html"))
    slowest = table(page, "slowest-pages")
    assert slowest[0][0] == f"{site.url}/delay/1"
    assert slowest[0][2].endswith(" s")
    assert len(slowest) == 20
    largest = table(page, "largest-pages")
    assert largest[0][0].startswith(f"{site.url}/site/")
    assert largest[0][3] == "5.1 kB"


def test_a_fetch_report_reads_records_without_found_on(fetched: Path) -> None:
    """README, Crawl report: fetch records too. A fetch follows redirects itself: its record
    is a chain to its final URL; a loop is a TooManyRedirects failure."""
    page, _ = report(fetched, output=fetched.with_name("fetch.html"))
    assert card(page, "records") == "6"
    assert card(page, "time span") != "\u2014"  # fetch records say when, as a crawl's do
    assert page.css_first("section#over-time svg") is not None
    broken = {url.rsplit("/", 1)[1]: (outcome, found_on)
              for url, outcome, found_on in table(page, "broken")}  # fmt: skip
    assert broken == {"404": ("404", "\u2014"), "reset": ("ReadError", "\u2014"),
                      "redirect-loop": ("TooManyRedirects", "\u2014")}  # fmt: skip
    chain = [item.text(strip=True) for item in page.css("section#redirects ol.chain li")]
    assert chain[0].endswith("/redirect/33 redirects followed by the fetch \u2192")
    assert chain[1].endswith("/redirect/0200")


@pytest.mark.parametrize("output", ["pages.csv", "pages.parquet", "pages.sqlite"])
def test_a_csv_parquet_or_sqlite_output_gives_the_report_its_jsonl_gives(
    site: ServerProcess, tmp_path: Path, crawled: Path, output: str
) -> None:
    """README, Crawl report: CSV, Parquet and SQLite outputs are read too (their columns)."""
    written = crawl(site, tmp_path / "other", output)
    from_other = corocrawl.write_report([written], tmp_path / "other.html")
    from_jsonl = corocrawl.write_report([crawled], tmp_path / "jsonl.html")
    assert from_other.bad_lines == 0
    ignored = {"output": None}
    assert {**vars_of(from_other), **ignored} == {**vars_of(from_jsonl), **ignored}


def vars_of(summary: corocrawl.ReportSummary) -> dict[str, Any]:
    return {name: getattr(summary, name) for name in summary.__slots__}


def test_several_inputs_are_read_as_one(crawled: Path, fetched: Path, tmp_path: Path) -> None:
    one = corocrawl.write_report([crawled], tmp_path / "a.html")
    two = corocrawl.write_report([fetched], tmp_path / "b.html")
    both = corocrawl.write_report([crawled, fetched], tmp_path / "both.html")
    assert both.records == one.records + two.records
    assert both.broken == one.broken + two.broken


def test_bad_lines_are_reported_by_file_and_line_and_skipped(tmp_path: Path) -> None:
    """README, Crawl report: a line that is no record is named on stderr and skipped."""
    good = {"url": "http://a.example/", "status": 200, "bytes": 10, "elapsed": 0.1}
    lines = [
        orjson.dumps(good),
        b"{not json",
        b"[1, 2]",
        orjson.dumps({**good, "status": "200"}),
        b"",  # blank lines are no records, and no errors
        b'{"url": "http://a.example/big", "pad": "' + b"x" * (MAX_LINE + 10) + b'"}',
        orjson.dumps({"status": 200}),
        orjson.dumps(good),
    ]
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    done = corocrawl_command("report", str(source), "-o", "r.html", cwd=tmp_path)
    assert done.returncode == 0
    assert "Traceback" not in done.stderr
    said = done.stderr.splitlines()
    assert said[0].startswith(f"corocrawl report: {source}:2: not JSON (unexpected character")
    assert said[1:5] == [
        f"corocrawl report: {source}:3: not a corocrawl record (not a JSON object): skipped",
        f"corocrawl report: {source}:4: not a corocrawl record (status is '200', not a whole "
        "number): skipped",
        f"corocrawl report: {source}:6: longer than {MAX_LINE:,} bytes: skipped",
        f"corocrawl report: {source}:7: not a corocrawl record (no url): skipped",
    ]
    assert "corocrawl report: 2 records (5 bad lines skipped)" in said[5]


def test_a_bad_csv_row_is_reported_by_its_line(tmp_path: Path) -> None:
    source = tmp_path / "pages.csv"
    source.write_text("url,status,bytes\nhttp://a.example/,200,5\nhttp://a.example/x,OK,5\n")
    bad: list[str] = []
    summary = corocrawl.write_report([source], tmp_path / "r.html", on_bad_line=bad.append)
    assert summary.records == 1
    assert bad == [f"{source}:3: not a corocrawl record (status is 'OK'): skipped"]


def test_a_missing_input_is_an_error_naming_it(tmp_path: Path) -> None:
    done = corocrawl_command("report", "nowhere.jsonl", "-o", "r.html", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "corocrawl report: error: cannot read nowhere.jsonl: No such file " \
        "or directory\n"  # fmt: skip
    assert not (tmp_path / "r.html").exists()
    with pytest.raises(corocrawl.ConfigError, match=r"nowhere\.jsonl"):
        corocrawl.write_report([tmp_path / "nowhere.jsonl"], tmp_path / "r.html")


def test_a_report_over_its_input_is_refused_and_the_input_kept(crawled: Path) -> None:
    before = crawled.read_bytes()
    done = corocrawl_command("report", str(crawled), "-o", str(crawled), cwd=crawled.parent)
    assert done.returncode == 2
    assert "would overwrite its input" in done.stderr
    assert crawled.read_bytes() == before


def test_a_report_that_cannot_be_written_is_exit_1_and_one_line(crawled: Path) -> None:
    done = corocrawl_command("report", str(crawled), "-o", "/proc/report.html",
                             cwd=crawled.parent)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("corocrawl report: error: cannot write the report")
    assert len(done.stderr.splitlines()) == 1


HOSTILE = 'http://evil.example/"><script>alert("x")</script>'


def test_text_from_records_is_escaped(tmp_path: Path) -> None:
    """README, Crawl report: URLs, titles, errors and skip reasons are the web's, and may be
    hostile: all of it is shown as text, and only http(s) URLs are links."""
    lines = [
        {"url": HOSTILE, "status": 404, "depth": 1, "found_on": "javascript:alert('x')",
         "title": "<script>alert('t')</script>", "fetched_at": 1.0, "elapsed": 5.0},
        {"url": "http://evil.example/e", "status": None, "depth": 1, "fetched_at": 2.0,
         "error": {"type": "<img src=x onerror=alert(1)>", "message": "'\""}},
        {"url": "http://evil.example/s", "status": None, "depth": 1,
         "skip": "<b onmouseover=alert(1)>robots</b>"},
        {"url": "http://evil.example/r", "status": 301, "depth": 1, "fetched_at": 3.0,
         "redirect": "http://evil.example/'onclick='alert(1)"},
    ]  # fmt: skip
    source = tmp_path / "evil.jsonl"
    source.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    output = tmp_path / "evil.html"
    corocrawl.write_report([source], output)
    html = output.read_text()
    assert "<script" not in html
    assert "<img" not in html
    assert "<b " not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript' not in html
    assert "onclick='" not in html
    assert "&#x27;onclick=&#x27;" in html
    page = LexborHTMLParser(html)
    assert HOSTILE in {node.attributes["href"] for node in page.css("a")}
    assert all(not node.attributes for node in page.css("td, span")
               if node.attributes.get("class") not in ("n", "url", "status", "loop"))  # fmt: skip


def test_the_report_renders_in_chromium_and_makes_no_request(
    crawled: Path, site: ServerProcess, tmp_path: Path
) -> None:
    """README, Crawl report: one self-contained file, opened with no network: a real browser
    renders its totals, hosts, broken links and charts, and the server its links point to sees
    no request meanwhile."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install -y chromium (scripts/setup does)")
    output = tmp_path / "report.html"
    report(crawled, output=output)
    html = output.read_text()
    # The page refers to nothing it would load: no src, no stylesheet, no url() in CSS.
    assert not re.search(r"\bsrc\s*=|<link\b|@import|url\(", html, re.I)
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs
    assert all(href.startswith(site.url) for href in hrefs)
    requests_before = server_requests(site)
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         output.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert server_requests(site) == requests_before  # (/stats does not count itself)
    rendered = LexborHTMLParser(done.stdout)
    pages = records(crawled)
    assert card(rendered, "records") == str(len(pages))
    assert table(rendered, "hosts")[0][:2] == ["127.0.0.1", str(sum(not p["skip"] for p in pages))]
    assert f"{site.url}/site/logo.png" in rendered.css_first("section#broken").text()
    charts = rendered.css("svg.chart")
    assert len(charts) == 2
    assert all(chart.css("rect.bar") for chart in charts)


def server_requests(site: ServerProcess) -> int:
    with urllib.request.urlopen(f"{site.url}/stats", timeout=10) as answer:
        count: int = json.load(answer)["requests"]
        return count


def synthetic_records(path: Path, count: int) -> None:
    """Records that fill every capped structure: 30,000 hosts, redirects in three of four,
    a broken link and a skip in some of the rest, over count / 100 seconds."""
    with path.open("wb") as out:
        for number in range(count):
            host = f"h{number % 30_000}.example"
            record: dict[str, Any] = {
                "url": f"http://{host}/p/{number}", "status": 200, "bytes": number % 5000,
                "elapsed": 0.001 * (1 + number % 3000), "depth": 1, "fetched_at": number / 100,
                "found_on": f"http://{host}/",
            }  # fmt: skip
            if number % 4:
                record.update(status=301, redirect=f"http://{host}/p/{number + 1}")
            elif number % 7 == 0:
                record.update(status=404)
            elif number % 11 == 0:
                record.update(status=None, skip="offsite", fetched_at=None)
            out.write(orjson.dumps(record) + b"\n")


def aggregate_peak(path: Path) -> tuple[int, Aggregate]:
    tracemalloc.start()
    try:
        data = Aggregate()
        for row in read_rows(path, on_bad_line=print):
            data.add(row)
        data.summary_of_redirects()
        return tracemalloc.get_traced_memory()[1], data
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded_whatever_the_number_of_records(tmp_path: Path) -> None:
    """README, Crawl report: its memory does not grow with the records. Once every capped
    structure is full, three times the records take no more memory, and each structure is
    within its cap, with exact counts."""
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    synthetic_records(small, 40_000)
    synthetic_records(large, 120_000)
    small_peak, _ = aggregate_peak(small)
    large_peak, data = aggregate_peak(large)
    assert large_peak < small_peak * 1.25, (small_peak, large_peak)
    assert len(data.hosts) == Aggregate.HOSTS
    assert data.other_hosts.pages > 0
    assert data.records == 120_000
    assert len(data.broken) == Aggregate.BROKEN
    assert data.broken_total == sum(1 for n in range(120_000) if n % 4 == 0 and n % 7 == 0)
    assert len(data.per_second.counts) <= data.per_second.cap
    assert len(data.slowest) == len(data.largest) == Aggregate.TOP
    redirects = data.summary_of_redirects()
    assert redirects.recorded == 90_000
    assert redirects.not_followed == 90_000 - EDGES
