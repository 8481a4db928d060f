"""`crawl --extract text|meta`: each HTML page's main text and metadata, or its structured
data, as items, from the bundled news site (/articles/), on one process and on workers."""

from __future__ import annotations

import contextlib
import csv
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import corocrawl
from corocrawl.frontier import MemoryFrontier
from corocrawl.testing import ServerProcess


def corocrawl_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corocrawl", *args],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def items_by_url(path: Path) -> dict[str, dict[str, Any]]:
    items = [json.loads(line) for line in path.read_text().splitlines()]
    by_url = {item["url"].rsplit("/", 1)[-1]: item for item in items}
    assert len(by_url) == len(items), "one item per page"
    return by_url


@pytest.mark.parametrize("workers", ["1", "2"])
def test_extract_text_and_meta_write_one_item_per_html_page(
    server: ServerProcess, tmp_path: Path, workers: str
) -> None:
    items = tmp_path / "items.jsonl"
    done = corocrawl_cli(
        "crawl", f"{server.url}/articles/", "--extract", "text", "--extract", "meta",
        "--items", str(items), "-o", str(tmp_path / "pages.jsonl"), "--workers", workers, "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    by_url = items_by_url(items)
    assert sorted(by_url) == ["", "empty", "launch", "marche"]  # data.json is no HTML page

    launch = by_url["launch"]
    assert launch["title"] == "Rocket launch delayed"
    assert launch["author"] == "Ada Writer"
    assert launch["date"] == "2026-11-30"
    assert launch["language"] == "en"
    assert launch["description"] == "The launch moved to Friday."
    assert "fault in a valve of the second stage" in launch["text"]
    assert "Copyright" not in launch["text"]  # the footer and the menu left out
    assert "Sections" not in launch["text"]
    assert launch["jsonld"][0]["@type"] == "NewsArticle"
    assert launch["jsonld"][0]["author"]["name"] == "Ada Writer"
    assert launch["jsonld_errors"] == 0
    assert launch["opengraph"] == {"og:title": "Rocket launch delayed", "og:type": "article"}
    assert launch["meta"] == {
        "description": "The launch moved to Friday.",
        "author": "Ada Writer",
        "twitter:card": "summary",
    }

    marche = by_url["marche"]
    assert marche["language"] == "fr"  # from <html lang>
    assert marche["date"] == "2026-12-01"
    assert "cent chalets de bois" in marche["text"]
    assert [thing["@type"] for thing in marche["jsonld"]] == ["Place", "Event"]
    assert marche["jsonld_errors"] == 1  # the script that does not parse, counted
    assert marche["opengraph"]["og:image"] == [
        "https://img.example/1.jpg",
        "https://img.example/2.jpg",
    ]

    empty = by_url["empty"]
    assert empty["text"] is None
    assert [empty[key] for key in ("jsonld", "opengraph", "meta")] == [None, None, None]
    # Every item has the same keys: one column each in a CSV or Parquet output.
    assert len({tuple(item) for item in by_url.values()}) == 1


def test_extract_meta_alone_does_not_need_trafilatura_and_writes_csv(
    server: ServerProcess, tmp_path: Path
) -> None:
    items = tmp_path / "items.csv"
    done = corocrawl_cli(
        "crawl", f"{server.url}/articles/launch", "--max-depth", "0", "--extract", "meta",
        "--items", str(items), "-o", str(tmp_path / "pages.jsonl"), "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with items.open(newline="") as rows:
        (row,) = list(csv.DictReader(rows))
    assert list(row) == ["url", "jsonld", "jsonld_errors", "opengraph", "meta", "extra"]
    assert json.loads(row["jsonld"])[0]["headline"] == "Rocket launch delayed"
    assert json.loads(row["opengraph"])["og:type"] == "article"


async def test_extract_from_python_with_a_handler_beside_it(
    server: ServerProcess, tmp_path: Path
) -> None:
    async def headings(page: corocrawl.Page) -> AsyncIterator[dict[str, Any]]:
        for node in page.css("h1"):
            yield {"heading": node.text(strip=True)}

    config = corocrawl.CrawlConfig(extract=("meta",), scope=corocrawl.Scope(max_depth=0))
    items = corocrawl.JsonlSink(tmp_path / "items.jsonl")
    with (
        contextlib.closing(items),
        contextlib.closing(corocrawl.JsonlSink(tmp_path / "pages.jsonl")) as output,
    ):
        crawler = corocrawl.Crawler(
            config, frontier=MemoryFrontier(), output=output, items=items, handler=headings
        )
        await crawler.run([f"{server.url}/articles/marche"])
    extracted, heading = map(json.loads, (tmp_path / "items.jsonl").read_text().splitlines())
    assert extracted["opengraph"]["article:published_time"] == "2026-12-01"
    assert heading == {"url": f"{server.url}/articles/marche", "heading": "Le marché de Noël ouvre"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--extract", "meta"], "--extract writes its items to --items FILE"),
        (["--extract", "words", "--items", "i.jsonl"], "invalid choice: 'words'"),
        (["--items", "i.jsonl"], "--items receives what --extract or a --handler gives"),
    ],
)
def test_extract_option_errors_name_the_option(args: list[str], message: str) -> None:
    done = corocrawl_cli("crawl", "http://127.0.0.1:9/", *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_config_that_asks_for_an_unknown_extract_is_refused() -> None:
    with pytest.raises(corocrawl.ConfigError, match="extract 'words': choose from text, meta"):
        corocrawl.CrawlConfig(extract=("words",))
