"""`corocrawl crawl` as a user runs it, including kill -9 and resume."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from corocrawl.testing import ServerProcess

SITE_PAGES = 3000


def crawl_command(url: str, state: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "corocrawl", "crawl", f"{url}/site/0", "--state", str(state),
        "-o", str(out), "--ignore-robots", "--concurrency", "16", "--per-host", "16", "-q",
    ]  # fmt: skip


def lines_in(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_kill_9_and_resume_loses_nothing(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server("--site-pages", str(SITE_PAGES), "--site-links", "6")
    state, out = tmp_path / "crawl.db", tmp_path / "pages.jsonl"
    command = crawl_command(server.url, state, out)
    rng = random.Random(1234)
    kills = 0
    for _ in range(3):
        process = subprocess.Popen(command, stderr=subprocess.PIPE)
        target = lines_in(out) + rng.randint(50, 600)
        deadline = time.monotonic() + 60
        while lines_in(out) < target and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert kills >= 1

    records = [json.loads(line) for line in out.read_text().splitlines()]
    recorded = Counter(record["url"] for record in records)
    assert set(recorded) == {f"{server.url}/site/{page}" for page in range(SITE_PAGES)}
    # A URL is recorded again only if it was in flight at a kill: at most once per kill.
    assert max(recorded.values()) <= 1 + kills
    assert all(record["status"] == 200 for record in records)


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
