"""`--workers N`: worker processes that own hosts, replaced when they die, nothing lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import start_server_process

from corocrawl import (
    ConfigError,
    CrawlConfig,
    Crawler,
    FetchConfig,
    FetchResult,
    JsonlSink,
    Page,
    Politeness,
    Request,
    RetryPolicy,
    WorkerError,
    fetch_all,
)
from corocrawl._engine.engine import Engine
from corocrawl._urls import partition
from corocrawl._workers.jobs import FetchJob
from corocrawl._workers.pool import WorkerPool
from corocrawl.frontier import MemoryFrontier
from corocrawl.testing import ServerProcess

SECOND_HOST = "127.0.0.2"  # partition() sends 127.0.0.1 to worker 0 and this to worker 1
SITE_PAGES = 150


@pytest.fixture(scope="module")
def two_hosts() -> Iterator[tuple[str, str]]:
    """The bundled server, reachable as two hosts that belong to different workers."""
    server = start_server_process(
        "--delay", "0.3", "--site-pages", str(SITE_PAGES), "--site-links", "4",
        "--also-listen", SECOND_HOST,
    )  # fmt: skip
    yield server.url, server.url.replace("127.0.0.1", SECOND_HOST)
    server.stop()


def corocrawl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corocrawl", *args], capture_output=True, text=True, timeout=timeout
    )


def records_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def worker_pids(coordinator: int) -> list[int]:
    """The coordinator's spawned workers (not multiprocessing's resource tracker)."""
    pids = []
    for child in Path(f"/proc/{coordinator}/task/{coordinator}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            pids.append(int(child))
    return pids


def wait_for_lines(path: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {count} lines")


def test_the_two_test_hosts_belong_to_different_workers() -> None:
    assert partition("http://127.0.0.1:1/", 2) != partition(f"http://{SECOND_HOST}:1/", 2)
    # Stable: the same host always maps to the same worker, whatever the path or port.
    assert partition("http://example.org/a", 7) == partition("https://EXAMPLE.org:8443/b", 7)
    assert {partition(f"http://host{n}.test/", 3) for n in range(50)} == {0, 1, 2}


def test_fetch_with_two_workers_writes_the_same_records_as_one(
    two_hosts: tuple[str, str], tmp_path: Path
) -> None:
    urls = [
        f"{base}/status/{code}?n={n}"
        for base in two_hosts
        for code in (200, 404)
        for n in range(40)
    ]
    urls += ["http://127.0.0.1:9/refused"]  # an error record
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\nftp://example.org/not-fetched\n")
    outcomes = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}.jsonl"
        done = corocrawl("fetch", str(tmp_path / "urls.txt"), "-o", str(out), "--workers", workers)
        assert done.returncode == 0, done.stderr
        assert f"{tmp_path / 'urls.txt'}:{len(urls) + 1}: " in done.stderr  # the bad line
        assert f"{len(urls)} URLs in" in done.stderr
        assert "worker processes got work" not in done.stderr  # two hosts: both had work
        outcomes[workers] = Counter(
            (record["url"], record["status"], (record["error"] or {}).get("type"))
            for record in records_in(out)
        )
    assert outcomes["2"] == outcomes["1"]
    assert sum(outcomes["2"].values()) == len(urls)  # one record per URL, none twice


def test_per_host_limit_holds_with_workers(start_server: Any, tmp_path: Path) -> None:
    server: ServerProcess = start_server("--delay", "0.2", "--also-listen", SECOND_HOST)
    hosts = [server.url, server.url.replace("127.0.0.1", SECOND_HOST)]
    (tmp_path / "urls.txt").write_text(
        "".join(f"{h}/delay/0.2?n={n}\n" for h in hosts for n in range(60))
    )
    done = corocrawl(
        "fetch", str(tmp_path / "urls.txt"), "-o", str(tmp_path / "out.jsonl"),
        "--workers", "2", "--per-host", "3", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    peaks = server.stats()["peak_in_flight_by_host"]
    assert sorted(peaks.values()) == [3, 3]


def test_a_killed_fetch_worker_is_replaced_and_nothing_is_lost(
    two_hosts: tuple[str, str], tmp_path: Path
) -> None:
    urls = [f"{base}/delay/0.3?n={n}" for base in two_hosts for n in range(200)]
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "corocrawl", "fetch", str(tmp_path / "urls.txt"), "-o", str(out),
         "--workers", "2", "--concurrency", "40"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for_lines(out, 60, process)
    os.kill(worker_pids(process.pid)[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "died (killed by SIGKILL); starting a replacement" in stderr
    assert "worker processes replaced after dying: 1" in stderr
    recorded = Counter(record["url"] for record in records_in(out))
    assert set(recorded) == set(urls)
    assert max(recorded.values()) == 1
    assert all(record["status"] == 200 for record in records_in(out))


# Site pages answer at once: a politeness delay keeps a crawl running long enough (4.5 s) to be
# interrupted partway through even when a busy machine is slow to interrupt it.
SLOW_ENOUGH_TO_INTERRUPT = ("--delay", "0.03")


def crawl_args(hosts: tuple[str, str], out: Path, *extra: str) -> list[str]:
    return [
        "crawl", *(f"{host}/site/0" for host in hosts), "-o", str(out), "--ignore-robots",
        "--concurrency", "16", *extra,
    ]  # fmt: skip


def expected_pages(hosts: tuple[str, str]) -> set[str]:
    return {f"{host}/site/{page}" for host in hosts for page in range(SITE_PAGES)}


def test_crawl_with_two_workers_reaches_the_same_pages_as_one(
    two_hosts: tuple[str, str], tmp_path: Path
) -> None:
    found = {}
    for workers in ("1", "2"):
        out = tmp_path / f"pages{workers}.jsonl"
        done = corocrawl(*crawl_args(two_hosts, out, "--workers", workers, "--max-depth", "3"))
        assert done.returncode == 0, done.stderr
        records = records_in(out)
        found[workers] = Counter((r["url"], r["status"], r["skip"], r["depth"]) for r in records)
        assert max(Counter(r["url"] for r in records).values()) == 1
    assert found["2"] == found["1"]


def test_a_worker_killed_mid_crawl_loses_nothing(
    two_hosts: tuple[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "pages.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "corocrawl",
         *crawl_args(two_hosts, out, "--workers", "2", "--state", str(tmp_path / "c.db"),
                     *SLOW_ENOUGH_TO_INTERRUPT)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for_lines(out, 40, process)
    for victim in worker_pids(process.pid):
        os.kill(victim, signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert stderr.count("died (killed by SIGKILL)") == 2
    recorded = Counter(record["url"] for record in records_in(out))
    assert set(recorded) == expected_pages(two_hosts)
    assert max(recorded.values()) == 1


def test_ctrl_c_drains_the_workers_and_the_crawl_resumes(
    two_hosts: tuple[str, str], tmp_path: Path
) -> None:
    out, state = tmp_path / "pages.jsonl", tmp_path / "crawl.db"
    args = [
        sys.executable,
        "-m",
        "corocrawl",
        *crawl_args(
            two_hosts, out, "--workers", "2", "--state", str(state), *SLOW_ENOUGH_TO_INTERRUPT
        ),
    ]
    process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    wait_for_lines(out, 40, process)
    workers = worker_pids(process.pid)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "stopping: finishing" in stderr
    assert "died" not in stderr  # the workers drained; none was killed
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert out.read_bytes().endswith(b"\n")
    first_part = len(records_in(out))
    assert first_part < len(expected_pages(two_hosts))

    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    recorded = Counter(record["url"] for record in records_in(out))
    assert set(recorded) == expected_pages(two_hosts)
    assert max(recorded.values()) == 1  # a clean stop gives everything unfinished back


async def shout_and_fail(page: Page) -> AsyncIterator[dict[str, Any] | str]:
    """A handler, importable by the workers: yields an item, then fails on odd pages."""
    number = int(page.url.path.rsplit("/", 1)[-1])
    yield {"page": number}
    if number % 2:
        raise RuntimeError(f"handler failed on page {number}")


async def test_a_handler_that_raises_in_a_worker_is_a_record(
    two_hosts: tuple[str, str], tmp_path: Path
) -> None:
    output, items = JsonlSink(tmp_path / "pages.jsonl"), JsonlSink(tmp_path / "items.jsonl")
    crawler = Crawler(
        CrawlConfig(politeness=Politeness(respect_robots=False)),
        frontier=MemoryFrontier(),
        output=output,
        items=items,
        handler=shout_and_fail,
        workers=2,
    )
    await crawler.run([f"{host}/site/0" for host in two_hosts])
    output.close()
    items.close()
    records = records_in(tmp_path / "pages.jsonl")
    assert {record["url"] for record in records} == expected_pages(two_hosts)
    for record in records:
        odd = int(record["url"].rsplit("/", 1)[-1]) % 2
        expected = f"RuntimeError: handler failed on page {int(record['url'].rsplit('/', 1)[-1])}"
        assert record["handler_error"] == (expected if odd else None)
    assert len(records_in(tmp_path / "items.jsonl")) == len(records)
    assert crawler.stats.snapshot().worker_restarts == 0


def test_fetch_all_with_workers_keeps_input_order(two_hosts: tuple[str, str]) -> None:
    urls = [f"{two_hosts[n % 2]}/status/{200 + n % 3}?n={n}" for n in range(30)]
    results = fetch_all(urls, FetchConfig(), workers=2)
    assert [result.url for result in results] == urls
    assert [result.position for result in results] == list(range(30))
    assert [result.status for result in results] == [200 + n % 3 for n in range(30)]


@dataclass(frozen=True, slots=True)
class ExplodingJob(FetchJob):
    """A job whose workers fail as they start: stands for a bug in worker code."""

    def executor(self, concurrency: int) -> Engine:
        raise RuntimeError("boom while starting the worker")


async def test_a_worker_that_keeps_failing_raises_with_its_traceback(
    two_hosts: tuple[str, str],
) -> None:
    pool: WorkerPool[Any] = WorkerPool(ExplodingJob(FetchConfig()), 1, concurrency=4)

    async def requests() -> AsyncIterator[Any]:
        from corocrawl import Request

        # Work the worker never reads: closing a socket that holds some resets the connection,
        # which once lost the traceback sent just before.
        for n in range(200):
            yield Request(f"{two_hosts[0]}/status/200?n={n}")

    emitted: list[FetchResult] = []

    async def emit(payload: FetchResult) -> None:
        emitted.append(payload)

    with pytest.raises(WorkerError) as caught:
        await asyncio.wait_for(pool.run(requests(), emit), 120)
    error = caught.value
    assert error.worker_id == 0
    assert "died 3 times in a row" in str(error)
    assert "RuntimeError: boom while starting the worker" in error.remote_traceback
    assert "in executor" in error.remote_traceback  # the worker's own frames, not a summary
    assert "Traceback in worker 0:" in str(error)
    # A worker that cannot even start is the fault of no request: none is recorded as failed.
    assert emitted == []


def test_workers_option_is_checked(tmp_path: Path) -> None:
    (tmp_path / "urls.txt").write_text("http://127.0.0.1:9/\n")
    done = corocrawl("fetch", str(tmp_path / "urls.txt"), "--workers", "0")
    assert done.returncode == 2
    assert "--workers: must be at least 1, got 0" in done.stderr
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        WorkerPool(FetchJob(FetchConfig()), 0, concurrency=4)
    output = JsonlSink(tmp_path / "pages.jsonl")
    try:
        with pytest.raises(ConfigError, match="workers must be >= 1"):
            Crawler(CrawlConfig(), frontier=MemoryFrontier(), output=output, workers=0)
    finally:
        output.close()


def test_one_request_object_given_twice_gets_two_results(server: ServerProcess) -> None:
    """A batch pickles a repeated object once; each of its tickets still gets a result."""
    request = Request(f"{server.url}/status/200")
    results = fetch_all([request] * 20, FetchConfig(retry=RetryPolicy(retries=0)), workers=2)
    assert [result.status for result in results] == [200] * 20


CHILD_MODULE = """
import signal, sys, time

def wait_for_parent():
    heard = []
    signal.signal(signal.SIGUSR1, lambda *_: heard.append(1))
    deadline = time.monotonic() + 20
    while not heard and time.monotonic() < deadline:
        time.sleep(0.01)
    sys.exit(130 if heard else 0)
"""

PARENT_SCRIPT = """
import multiprocessing.context, os, signal
from corocrawl._workers import spawn
from children import wait_for_parent

if __name__ == "__main__":
    start = multiprocessing.context.SpawnProcess.start

    def start_then_interrupt(process):
        start(process)
        if process.name.endswith("-0"):  # a Ctrl-C while the first child is being started
            os.kill(os.getpid(), signal.SIGINT)

    multiprocessing.context.SpawnProcess.start = start_then_interrupt
    exits = spawn.run_processes(wait_for_parent, (), 3, name="child")
    # Each child hears it: at once if it had not started listening yet, else in its handler.
    print([code == 130 or exits.interrupted_outside(code) for code in exits.codes])
"""


def test_a_ctrl_c_while_processes_start_reaches_every_one(tmp_path: Path) -> None:
    (tmp_path / "children.py").write_text(CHILD_MODULE)
    (tmp_path / "parent.py").write_text(PARENT_SCRIPT)
    done = subprocess.run(
        [sys.executable, "parent.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[True, True, True]"


def test_workers_that_cannot_gain_say_so(server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "urls.txt").write_text(
        "".join(f"{server.url}/status/200?n={n}\n" for n in range(5))
    )
    done = corocrawl("fetch", str(tmp_path / "urls.txt"), "-o", os.devnull, "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert (
        "1 of 2 worker processes got work from the first 5 URLs: work is split by host, and "
        "these URLs have too few hosts to keep them all busy (--workers 1 would do as well)"
    ) in done.stderr


def test_a_script_without_a_main_guard_is_told_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(
        "import corocrawl\n"
        'corocrawl.fetch_all(["http://127.0.0.1:9/a", "http://127.0.0.2:9/b"], workers=2)\n'
    )
    done = subprocess.run(
        [sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.rstrip().endswith(
        "WorkerError: the script starts worker processes when it is imported, and a worker "
        'process imports it too: guard its entry point with `if __name__ == "__main__":`'
    )
    assert "bootstrapping phase" not in done.stderr  # no child's traceback
    assert len(done.stderr.splitlines()) < 40
