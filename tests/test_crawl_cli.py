"""`corocrawl crawl` as a user runs it, including kill -9 and resume."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from corocrawl._config import TRANSPORT_NAMES
from corocrawl.testing import ServerProcess

SITE_PAGES = 3000


def crawl_command(url: str, state: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "corocrawl", "crawl", f"{url}/site/0", "--state", str(state),
        "-o", str(out), "--ignore-robots", "--concurrency", "16", "--per-host", "16", "-q",
    ]  # fmt: skip


def lines_in(path: Path) -> int:
    """Records written so far, about: lines of JSON Lines or CSV, rows of SQLite, and for
    Parquet the spool's lines and the parts' rows."""
    if path.suffix == ".parquet":
        spool = path / "_spool.jsonl"
        parts = [pq.ParquetFile(part).metadata.num_rows for part in path.glob("part-*.parquet")]
        return sum(parts) + lines_in(spool)
    if path.suffix == ".sqlite":
        if not path.exists():
            return 0
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as db:
            try:
                return int(db.execute("SELECT count(*) FROM records").fetchone()[0])
            except sqlite3.OperationalError:  # no table yet
                return 0
    return path.read_bytes().count(b"\n") if path.exists() else 0


def installed_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("corocrawl")), *args]


def user_environment() -> dict[str, str]:
    """As a user runs it: nothing added to the Python path (a --handler is found in the cwd)."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def kill_at(process: subprocess.Popen[bytes], out: Path, rng: random.Random) -> bool:
    """SIGKILL at a random moment: some while it starts, opens the state or claims the seed,
    most after a random number of new records (which lands in the middle of writes)."""
    deadline = time.monotonic() + 60
    if rng.random() < 0.3:
        deadline = time.monotonic() + rng.uniform(0.05, 1.5)
        target = sys.maxsize
    else:
        target = lines_in(out) + rng.randint(1, 500)
    while lines_in(out) < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return True


def records_in(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON Lines, CSV (whose cells are text), Parquet or SQLite output."""
    if path.suffix == ".csv":
        with path.open(newline="") as rows:
            return list(csv.DictReader(rows))
    if path.suffix == ".parquet":
        return list(pq.read_table(path).to_pylist())
    if path.suffix == ".sqlite":
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.row_factory = sqlite3.Row
            table = "items" if path.stem == "items" else "records"
            return [dict(row) for row in db.execute(f"SELECT * FROM {table}")]
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("workers", "suffix"),
    [("1", "jsonl"), ("2", "jsonl"), ("1", "csv"), ("1", "parquet"), ("2", "sqlite")],
)
def test_kill_9_at_many_moments_then_resume_records_every_url_exactly_once(
    start_server: Callable[..., ServerProcess], tmp_path: Path, workers: str, suffix: str
) -> None:
    """README, Guarantees: after kill -9 at any moment and a resume, every URL has exactly one
    record in the output, and every item its handler yielded is in --items exactly once, in
    every output format: JSON Lines, CSV, Parquet (in parts of 500 rows here, so kills land
    while parts are closed too) and SQLite."""
    server = start_server("--site-pages", str(SITE_PAGES), "--site-links", "6")
    state, out = tmp_path / "crawl.db", tmp_path / f"pages.{suffix}"
    items = tmp_path / f"items.{suffix}"
    (tmp_path / "my_handlers.py").write_text(HANDLER_MODULE)
    command = installed_command(
        "crawl", f"{server.url}/site/0", "--state", str(state), "-o", str(out),
        "--handler", "my_handlers:titles", "--items", str(items), "--ignore-robots",
        "--concurrency", "16", "--per-host", "16", "--workers", workers, "-q",
        *(["--part-rows", "500"] if suffix == "parquet" else []),
    )  # fmt: skip
    rng = random.Random(1234 + int(workers))
    kills = 0
    for _ in range(8):
        process = subprocess.Popen(
            command, stderr=subprocess.DEVNULL, env=user_environment(), cwd=tmp_path
        )
        kills += kill_at(process, out, rng)
    finished = subprocess.run(
        command, capture_output=True, text=True, env=user_environment(), cwd=tmp_path, timeout=120
    )
    assert finished.returncode == 0, finished.stderr
    assert kills >= 5

    every_page = {f"{server.url}/site/{page}" for page in range(SITE_PAGES)}
    records = records_in(out)
    recorded = Counter(record["url"] for record in records)
    assert set(recorded) == every_page
    assert recorded.most_common(1)[0][1] == 1, recorded.most_common(3)
    assert all(str(record["status"]) == "200" for record in records)
    yielded = Counter(item["url"] for item in records_in(items))
    assert set(yielded) == every_page
    assert yielded.most_common(1)[0][1] == 1, yielded.most_common(3)
    if suffix == "parquet":  # closed in parts, none left in the making
        assert len(list(out.glob("part-*.parquet"))) > 1
        assert (
            sorted(path.name for path in out.iterdir() if not path.name.startswith("part-")) == []
        )


def test_bad_seed_lines_are_reported_and_the_rest_crawled(
    server: ServerProcess, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"{server.url}/site/5\nnot a seed\n")
    out = tmp_path / "pages.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "crawl", "-i", str(seeds), "-o", str(out),
         "--max-depth", "0", "--ignore-robots"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{seeds}:2: " in done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [record["url"] for record in records if record["skip"] is None] == [
        f"{server.url}/site/5"
    ]
    assert {record["skip"] for record in records[1:]} == {"depth"}


def test_a_bad_seed_argument_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "crawl", "ftp://example.com/"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "seed 'ftp://example.com/': scheme 'ftp' is not fetched" in done.stderr


def test_a_state_file_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "no-such-dir" / "crawl.db"
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "crawl", "http://127.0.0.1:9/", "--state", str(state)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"cannot use state file {state}: No such file or directory" in done.stderr
    assert "Traceback" not in done.stderr


HANDLER_MODULE = """
async def titles(page):
    yield {"title": page.title}
    if page.url.path == "/site/0":
        yield "/site/1"


async def broken(page):
    yield {"before": True}
    raise RuntimeError("boom")
"""


def crawl_with_handler(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`corocrawl crawl ARGS`, the installed command, run where the module my_handlers
    (HANDLER_MODULE) is: as a user runs it, with nothing added to the Python path."""
    (tmp_path / "my_handlers.py").write_text(HANDLER_MODULE)
    (tmp_path / "my_broken_module.py").write_text("async def titles(page)\n")
    return subprocess.run(
        installed_command("crawl", *args),
        capture_output=True,
        text=True,
        env=user_environment(),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_handler_runs_from_the_command_line_and_items_receive_what_it_yields(
    start_server: Callable[..., ServerProcess], tmp_path: Path, workers: str
) -> None:
    server = start_server("--site-pages", "20", "--site-links", "3")
    out, items = tmp_path / "pages.jsonl", tmp_path / "items.jsonl"
    done = crawl_with_handler(
        tmp_path, f"{server.url}/site/0", "-o", str(out), "--handler", "my_handlers:titles",
        "--items", str(items), "--ignore-robots", "--max-depth", "1", "--workers", workers, "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pages = [json.loads(line) for line in out.read_text().splitlines()]
    fetched = [page for page in pages if page["status"] == 200]
    yielded = [json.loads(line) for line in items.read_text().splitlines()]
    assert len(yielded) == len(fetched) > 1
    assert {item["url"] for item in yielded} == {page["url"] for page in fetched}
    assert all(item["title"] for item in yielded)
    assert all("handler_error" in page and page["handler_error"] is None for page in fetched)


def test_a_handler_that_raises_costs_its_pages_a_handler_error(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--site-pages", "5", "--site-links", "2")
    out, items = tmp_path / "pages.jsonl", tmp_path / "items.jsonl"
    done = crawl_with_handler(
        tmp_path, f"{server.url}/site/0", "-o", str(out), "--handler", "my_handlers:broken",
        "--items", str(items), "--ignore-robots", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not done.stderr
    pages = [json.loads(line) for line in out.read_text().splitlines()]
    assert pages
    assert all(page["handler_error"] == "RuntimeError: boom" for page in pages)
    assert len(items.read_text().splitlines()) == len(pages)  # what it yielded first is kept
    # Not -q: the summary says so, and the statistics count them.
    stats = tmp_path / "stats.json"
    again = crawl_with_handler(
        tmp_path, f"{server.url}/site/0", "-o", str(tmp_path / "again.jsonl"), "--handler",
        "my_handlers:broken", "--items", str(tmp_path / "again-items.jsonl"), "--ignore-robots",
        "--stats-json", str(stats),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"handler errors: {len(pages)} pages" in again.stderr
    assert "the first: RuntimeError: boom" in again.stderr
    assert json.loads(stats.read_text())["handler_errors"] == len(pages)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--handler", "no_such_module:titles"], "cannot import 'no_such_module'"),
        (["--handler", "my_handlers:missing"], "my_handlers has no function 'missing'"),
        (["--handler", "my_handlers"], "give it as package.module:function"),
        (["--items", "items.jsonl"], "--items receives what --extract or a --handler gives"),
        (
            ["--handler", "my_broken_module:titles"],
            "SyntaxError: expected ':' (my_broken_module.py, line 1)",
        ),
    ],
)
def test_a_bad_handler_option_is_a_one_line_error(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    done = crawl_with_handler(tmp_path, "http://127.0.0.1:1/", *flags)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("corocrawl crawl: error: ")
    assert message in line


def test_a_handler_without_items_warns_that_its_items_are_dropped(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--site-pages", "3", "--site-links", "1")
    done = crawl_with_handler(
        tmp_path, f"{server.url}/site/0", "-o", str(tmp_path / "pages.jsonl"),
        "--handler", "my_handlers:titles", "--ignore-robots", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "corocrawl crawl: warning: the items the handler yields are dropped: give --items"
    ]


def test_a_crawl_of_an_unreachable_site_ends_and_says_why(tmp_path: Path) -> None:
    """robots.txt refused: a few tries (5 s, then 10 s), then the seed is recorded as skipped."""
    out = tmp_path / "pages.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "crawl", "http://127.0.0.1:1/", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["skip"] == "robots-unavailable"
    assert record["error"]["type"] == "RobotsUnavailable"
    assert "ConnectError" in record["error"]["message"]
    waits = [
        line for line in done.stderr.splitlines() if "robots.txt of http://127.0.0.1:1" in line
    ]
    assert len(waits) == 3
    assert waits[0].endswith("its URLs wait, asked again in 5s")
    assert waits[-1].endswith("its URLs are skipped (robots-unavailable) for now")


def test_the_summary_counts_requests_records_and_skips_apart(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--site-pages", "200", "--site-links", "10")
    state, out, stats = tmp_path / "crawl.db", tmp_path / "pages.jsonl", tmp_path / "stats.json"
    command = [
        sys.executable, "-m", "corocrawl", "crawl", f"{server.url}/site/0", "--state",
        str(state), "-o", str(out), "--max-depth", "1", "--stats-json", str(stats),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    skipped = sum(record["skip"] is not None for record in records)
    requests = sum(n for path, n in server.stats()["by_path"].items() if path != "/robots.txt")
    assert requests == len(records) - skipped == 11
    lines = done.stderr.splitlines()
    (first,) = [line for line in lines if line.startswith(f"corocrawl crawl: {len(records)} URLs")]
    assert f": {requests} fetched (" in first
    assert first.endswith(f", {skipped} skipped")
    assert lines[-1] == f"  frontier: {requests} done, 0 failed, {skipped} skipped, 0 left"
    document = json.loads(stats.read_text())
    assert (document["fetched"], document["skipped"]) == (requests, skipped)
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert f"resuming {state}: {requests} done, 0 failed, {skipped} skipped, 0 left" in (
        again.stderr
    )


def test_page_requisites_are_crawled_so_a_broken_asset_is_found(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--site-pages", "20", "--site-links", "3")
    found = {}
    for flag in ([], ["--page-requisites"]):
        out = tmp_path / f"pages{len(flag)}.jsonl"
        command = [sys.executable, "-m", "corocrawl", "crawl", f"{server.url}/site/0", "-o",
                   str(out), "--max-depth", "0", "-q", *flag]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        found[bool(flag)] = {
            record["url"]: record for record in map(json.loads, out.read_text().splitlines())
        }
    style, logo = f"{server.url}/site/style.css", f"{server.url}/site/logo.png"
    assert style not in found[False]
    assert logo not in found[False]
    # At the page's own depth (here the last one), through the same checks as links.
    assert found[True][style]["status"] == 200
    assert found[True][style]["content_type"] == "text/css"
    assert (found[True][logo]["status"], found[True][logo]["depth"]) == (404, 0)
    assert found[True][logo]["found_on"] == f"{server.url}/site/0"
    assert found[True][f"{server.url}/site/0"]["links"] == 3 + 2
    assert "links_dropped" not in found[True][f"{server.url}/site/0"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_credentials_go_only_to_the_seeds_origins(
    start_server: Callable[..., ServerProcess], tmp_path: Path, workers: str
) -> None:
    """-H Authorization reaches the seed's origin, and neither a redirect target nor an
    in-scope link on another origin (nor their robots.txt)."""
    server = start_server("--also-listen", "127.0.0.2")
    other = server.url.replace("127.0.0.1", "127.0.0.2")
    out, bodies = tmp_path / "pages.jsonl", tmp_path / "bodies"
    command = [
        sys.executable, "-m", "corocrawl", "crawl", f"{server.url}/headers",
        f"{server.url}/redirect-to?url={other}/headers", "-o", str(out), "--allow-domain",
        "127.0.0.2", "-H", "Authorization: Bearer s3cret", "-H", "X-Other: everywhere",
        "--save-bodies", str(bodies), "--workers", workers, "-q",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    records = {record["url"]: record for record in map(json.loads, out.read_text().splitlines())}
    seen = {
        url: {name.lower(): value for name, value in json.loads(
            Path(record["body_path"]).read_text()).items()}
        for url, record in records.items()
        if record["content_type"] == "application/json"
    }  # fmt: skip
    assert seen[f"{server.url}/headers"]["authorization"] == "Bearer s3cret"
    assert "authorization" not in seen[f"{other}/headers"]  # another origin: none
    assert seen[f"{other}/headers"]["x-other"] == "everywhere"  # other headers go everywhere


def test_a_seed_refused_by_refuse_private_is_a_blocked_record_at_once(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--site-pages", "3", "--site-links", "1")
    out = tmp_path / "pages.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "crawl", f"{server.url}/site/0", "-o", str(out),
         "--refuse-private"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["skip"] is None
    assert record["error"]["type"] == "BlockedURL"
    assert "refused by --refuse-private" in record["error"]["message"]
    assert "robots.txt of" not in done.stderr  # not waited for as if the site were down


def test_a_crawl_stopped_by_a_full_disk_resumes_with_every_url_exactly_once(
    start_server: Callable[..., ServerProcess], tmp_path: Path, small_disk: Path
) -> None:
    """README, Guarantees: a full disk ends the crawl with one line; once there is room, the
    same command resumes it, and no record is lost or written twice."""
    server = start_server("--site-pages", "2000", "--site-links", "6")
    state, out = tmp_path / "crawl.db", small_disk / "pages.jsonl"
    command = crawl_command(server.url, state, out)
    full = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert full.returncode == 1
    assert full.stderr.splitlines() == [
        f"corocrawl crawl: error: cannot write output '{out}': No space left on device"
    ]
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr

    recorded = Counter(json.loads(line)["url"] for line in out.read_text().splitlines())
    assert set(recorded) == {f"{server.url}/site/{page}" for page in range(2000)}
    assert recorded.most_common(1)[0][1] == 1, recorded.most_common(3)


def test_an_output_cut_short_since_the_last_run_is_refused_on_resume(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--site-pages", "50", "--site-links", "3")
    state, out = tmp_path / "crawl.db", tmp_path / "pages.jsonl"
    command = [*crawl_command(server.url, state, out), "--max-pages", "20"]
    assert subprocess.run(command, capture_output=True, timeout=120).returncode == 0
    whole = out.stat().st_size
    with out.open("r+b") as cut:
        cut.truncate(whole // 2)
    again = subprocess.run(
        [*crawl_command(server.url, state, out), "--max-pages", "40"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 2
    *_, error = again.stderr.splitlines()
    assert re.fullmatch(
        f"corocrawl crawl: error: output '{out}' holds [0-9,]+ bytes, but the crawl had "
        f"written {whole:,} bytes of records to it: it was cut or replaced since. Restore it, "
        "or give another output file for the rest of the crawl",
        error,
    ), error
    assert "Traceback" not in again.stderr


PEAK_RSS = """
import resource, sys
from corocrawl._cli.main import main
try:
    sys.exit(main(sys.argv[1:]))
finally:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, file=sys.stderr)
"""


def crawl_peak_rss(tmp_path: Path, url: str) -> tuple[int, dict[str, object]]:
    """The peak RSS in bytes of `corocrawl crawl URL --max-depth 0`, and the page's record."""
    out = tmp_path / "page.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, "crawl", url, "--max-depth", "0", "--ignore-robots",
         "-q", "-o", str(out)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    records = [json.loads(line) for line in out.read_text().splitlines()]
    (page,) = [record for record in records if record["url"] == url]
    return int(done.stderr.splitlines()[-1]), page


def test_memory_for_a_page_of_links_stays_within_30_times_its_size(
    server: ServerProcess, tmp_path: Path
) -> None:
    """README, Guarantees: a page costs at most about 30 times its size while it is parsed,
    however many links it holds (a page of nothing but links: the parse tree is most of it);
    past --max-links-per-page, links are only counted."""
    baseline, _ = crawl_peak_rss(tmp_path, f"{server.url}/links/10")
    peak, record = crawl_peak_rss(tmp_path, f"{server.url}/links/380000")
    page_bytes = record["bytes"]
    assert isinstance(page_bytes, int)
    assert 9_000_000 < page_bytes <= 10 * 1024 * 1024  # within the default --max-bytes
    assert (record["links"], record["links_dropped"]) == (380_000, 379_000)
    assert peak - baseline < 30 * page_bytes, (peak - baseline) / page_bytes


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_a_crawl_is_the_same_on_either_transport(
    start_server: Callable[..., ServerProcess], tmp_path: Path, transport: str, workers: str
) -> None:
    server = start_server("--site-pages", "300", "--site-links", "5")
    out = tmp_path / "pages.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "crawl", f"{server.url}/site/0", "-o", str(out),
         "--ignore-robots", "-q", "--transport", transport, "--workers", workers],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {record["url"] for record in records} == {
        f"{server.url}/site/{page}" for page in range(300)
    }
    assert {(record["status"], record["http_version"]) for record in records} == {(200, "HTTP/1.1")}
    assert all(record["links"] >= 1 for record in records)  # pages parsed


def test_a_crawl_keeps_per_ip_over_the_hosts_on_one_address(
    one_address: tuple[ServerProcess, list[str]], tmp_path: Path
) -> None:
    server, hosts = one_address
    seeds = [f"{host}/delay/0.2?n={n}" for n in range(12) for host in hosts]
    out = tmp_path / "pages.jsonl"
    command = [sys.executable, "-m", "corocrawl", "crawl", *seeds, "-o", str(out),
               "--per-host", "4", "--per-ip", "3", "--ignore-robots"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(record["status"] for record in records) == [200] * len(seeds)
    assert server.stats()["peak_in_flight"] == 3  # 8 without it: 4 on each host
