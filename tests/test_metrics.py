"""--metrics-port: Prometheus metrics served while a crawl or a fetch runs, scraped over HTTP
and read with prometheus-client's own parser."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from corocrawl.testing import ServerProcess

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def started(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    """The process, and its metrics URL, from the line it says it on."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"metrics at (http://\S+)", line)
        if found:
            return process, found[1]
    process.wait(timeout=30)
    raise AssertionError(f"no metrics address said (exit {process.returncode})")


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape_until(url: str, ready: Callable[[Samples], bool]) -> Samples:
    deadline = time.monotonic() + 60
    while True:
        samples = scrape(url)
        if ready(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        process.kill()
        process.communicate(timeout=30)


def test_a_crawl_serves_its_counts_frontier_host_queues_and_latency(
    start_server: Callable[..., ServerProcess], tmp_path: Path,
    running: list[subprocess.Popen[str]],
) -> None:  # fmt: skip
    server = start_server("--site-pages", "400", "--site-links", "4")
    process, url = started([
        sys.executable, "-m", "corocrawl", "crawl", f"{server.url}/site/0", f"{server.url}/hang",
        "--page-requisites", "--delay", "0.01", "--read-timeout", "0.5", "--retries", "0",
        "--state", str(tmp_path / "crawl.db"), "-o", str(tmp_path / "pages.jsonl"),
        "--metrics-port", "0",
    ])  # fmt: skip
    running.append(process)
    samples = scrape_until(
        url,
        lambda got: (
            got.get(("corocrawl_errors_total", (("type", "ReadTimeout"),)), 0) >= 1
            and got.get(("corocrawl_responses_total", (("class", "4xx"),)), 0) >= 1
        ),
    )
    assert samples[("corocrawl_errors_total", (("type", "ReadTimeout"),))] == 1
    assert samples[("corocrawl_responses_total", (("class", "2xx"),))] >= 1
    assert samples[("corocrawl_responses_total", (("class", "4xx"),))] >= 1  # logo.png
    assert samples[("corocrawl_fetched_total", ())] >= 3
    assert samples[("corocrawl_response_bytes_total", ())] > 0
    assert ("corocrawl_in_flight", ()) in samples
    left = (
        samples[("corocrawl_frontier_requests", (("state", "pending"),))]
        + samples[("corocrawl_frontier_requests", (("state", "leased"),))]
    )
    assert left > 0  # 400 pages at 10 ms apart: most are still to come
    assert samples[("corocrawl_frontier_requests", (("state", "done"),))] >= 1
    # The one host's requests wait for their turn (--delay): its queue is shown.
    assert samples[("corocrawl_host_queue_depth", (("host", "127.0.0.1"),))] >= 1
    fetched = samples[("corocrawl_fetch_duration_seconds_count", ())]
    assert fetched >= 2
    assert samples[("corocrawl_fetch_duration_seconds_bucket", (("le", "+Inf"),))] == fetched
    assert samples[("corocrawl_fetch_duration_seconds_sum", ())] > 0


def test_a_fetch_on_workers_serves_metrics_too(
    server: ServerProcess, tmp_path: Path, running: list[subprocess.Popen[str]]
) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{server.url}/delay/0.2?n={n}\n" for n in range(200)))
    process, url = started([
        sys.executable, "-m", "corocrawl", "fetch", str(urls), "-o", str(tmp_path / "out.jsonl"),
        "--workers", "2", "--concurrency", "8", "--per-host", "8", "--metrics-port", "0",
    ])  # fmt: skip
    running.append(process)
    samples = scrape_until(url, lambda got: got.get(("corocrawl_fetched_total", ()), 0) >= 10)
    assert samples[("corocrawl_fetched_total", ())] >= 10
    assert samples[("corocrawl_responses_total", (("class", "2xx"),))] >= 10
    # Handed to the workers and not done: waiting there or in flight.
    assert samples[("corocrawl_host_queue_depth", (("host", "127.0.0.1"),))] >= 1
    assert ("corocrawl_frontier_requests", (("state", "pending"),)) not in samples  # no frontier


def test_a_metrics_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        urls = tmp_path / "urls.txt"
        urls.write_text("http://127.0.0.1:9/\n")
        done = subprocess.run(
            [sys.executable, "-m", "corocrawl", "fetch", str(urls), "--metrics-port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"--metrics-port: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_metrics_port_names_the_option() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "fetch", "urls.txt", "--metrics-port", "nine"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--metrics-port" in done.stderr
    assert "give PORT or HOST:PORT" in done.stderr


def test_the_progress_line_on_a_terminal_shows_rate_errors_and_the_frontier_left(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    import os
    import pty

    server = start_server("--site-pages", "300", "--site-links", "4")
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "corocrawl", "crawl", f"{server.url}/site/0", "--delay", "0.01",
         "-o", str(tmp_path / "pages.jsonl")],
        stderr=follower, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    os.close(follower)
    shown = b""
    try:
        deadline = time.monotonic() + 60
        while b"left" not in shown and time.monotonic() < deadline:
            shown += os.read(leader, 65536)
    finally:
        process.kill()
        process.wait(timeout=30)
        os.close(leader)
    line = re.sub(rb"\x1b\[[0-9;?]*[a-zA-Z]", b"", shown).decode(errors="replace")
    assert re.search(r"[0-9.]+/s +\d+ errors +\d+ in flight +frontier [\d,]+ left", line), line
