"""A crawl shared through a real redis-server by several worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import RedisServer

from corocrawl import (
    BackendUnavailable,
    ConfigError,
    CrawlConfig,
    FetchConfig,
    Limits,
    Politeness,
    Scope,
    Sitemaps,
    Traps,
    distributed,
)
from corocrawl._config import TRANSPORT_NAMES
from corocrawl.frontier import RedisFrontier
from corocrawl.testing import ServerProcess

HOSTS = tuple(f"127.0.0.{number}" for number in range(1, 9))
PAGES = 150
HEARTBEAT = "0.3"  # a silent worker loses its hosts after 5 heartbeats: 1.5 s


@pytest.fixture(scope="module")
def site() -> Iterator[ServerProcess]:
    args = ["--delay", "0", "--site-pages", str(PAGES), "--site-links", "4"]
    for host in HOSTS[1:]:
        args += ["--also-listen", host]
    server = ServerProcess(*args)
    server.start()
    yield server
    server.stop()


def seeds(server: ServerProcess) -> list[str]:
    return [f"{server.url.replace('127.0.0.1', host)}/site/0" for host in HOSTS]


def expected(server: ServerProcess) -> set[str]:
    return {f"{seed[: -len('0')]}{page}" for seed in seeds(server) for page in range(PAGES)}


def corocrawl(*args: str) -> list[str]:
    return [sys.executable, "-m", "corocrawl", *args]


def shared(redis_url: str, crawl_id: str, out: Path, heartbeat: str = HEARTBEAT) -> list[str]:
    return ["--frontier", redis_url, "--crawl-id", crawl_id, "--output-dir", str(out),
            "--heartbeat", heartbeat, "-q"]  # fmt: skip


def start_crawl(
    server: ServerProcess,
    redis_url: str,
    crawl_id: str,
    out: Path,
    *extra: str,
    heartbeat: str = HEARTBEAT,
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        corocrawl("crawl", *seeds(server), *shared(redis_url, crawl_id, out, heartbeat),
                  "--ignore-robots", "--per-host", "1", "--delay", "0.03", *extra),
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def start_worker(
    redis_url: str, crawl_id: str, out: Path, heartbeat: str = HEARTBEAT, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        corocrawl("worker", *shared(redis_url, crawl_id, out, heartbeat), *extra),
        stderr=subprocess.PIPE,
        text=True,
    )


def lines_in(out: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in out.glob("*.jsonl"))


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float = 60, every: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def finish(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr


def exported(redis_url: str, crawl_id: str, out: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        corocrawl("export", "--frontier", redis_url, "--crawl-id", crawl_id, "--output-dir",
                  str(out), "-o", str(out / "all.json")),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in (out / "all.json").read_text().splitlines()]


def recorded(out: Path) -> Counter[str]:
    return Counter(
        json.loads(line)["url"]
        for path in out.glob("*.jsonl")
        for line in path.read_text().splitlines()
    )


def status(redis_url: str, crawl_id: str) -> dict[str, Any]:
    done = subprocess.run(
        corocrawl("status", "--frontier", redis_url, "--crawl-id", crawl_id, "--json"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_three_workers_share_a_crawl_politely_and_reach_every_page_once(
    site: ServerProcess, shared_server: RedisServer, tmp_path: Path, transport: str
) -> None:
    crawl_id, out = f"three-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    site.reset_stats()
    # Nobody dies here, so the default lease (5 s) holds even on a busy machine: a lease that
    # lapsed would rightly have its pages fetched again, and this test counts them once.
    using = ("--transport", transport)
    processes = [start_crawl(site, shared_server.url, crawl_id, out, *using, heartbeat="1")]
    wait_until(lambda: lines_in(out) > 0, "the first records")
    processes += [start_worker(shared_server.url, crawl_id, out, "1", *using) for _ in range(2)]
    wait_until(
        lambda: len(status(shared_server.url, crawl_id)["workers"]) == 3,
        "3 live workers",
        every=0.2,  # each look is a new process: looking too often starves the crawlers
    )
    running = status(shared_server.url, crawl_id)
    assert not running["finished"]
    assert running["pending"] + running["in_flight"] > 0
    assert set(running["queued_by_host"]) <= set(HOSTS)
    # The workers hold the partitions between them (a look may fall in a handover, as one
    # worker gives a partition up for another to take: so look more than once).
    wait_until(
        lambda: (
            any(worker["partitions"] for worker in status(shared_server.url, crawl_id)["workers"])
            or status(shared_server.url, crawl_id)["finished"]
        ),
        "partitions held",
        every=0.2,
    )
    finish(*processes)  # each worker exits by itself once the crawl is finished

    counts = recorded(out)
    assert set(counts) == expected(site)
    assert max(counts.values()) == 1  # nobody died: no page was fetched twice
    assert sum(1 for path in out.glob("*.jsonl") if path.stat().st_size) >= 2  # work was shared
    # One request at a time per host, across all three processes:
    peaks = site.stats()["peak_in_flight_by_host"]
    assert len(peaks) == len(HOSTS)
    assert set(peaks.values()) == {1}
    final = status(shared_server.url, crawl_id)
    assert final["finished"]
    assert (final["done"], final["pending"], final["in_flight"]) == (len(expected(site)), 0, 0)
    records = exported(shared_server.url, crawl_id, out)
    assert {record["url"] for record in records} == expected(site)


def test_a_worker_killed_mid_crawl_has_its_requests_redone_by_the_others(
    site: ServerProcess, redis_server: RedisServer, tmp_path: Path
) -> None:
    crawl_id, out = f"kill-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    first = start_crawl(site, redis_server.url, crawl_id, out)
    wait_until(lambda: lines_in(out) > 0, "the first records")
    others = [start_worker(redis_server.url, crawl_id, out) for _ in range(2)]
    wait_until(
        lambda: len(status(redis_server.url, crawl_id)["workers"]) == 3, "3 live workers", every=0.2
    )
    time.sleep(0.5)
    first.send_signal(signal.SIGKILL)  # the seeding worker: it holds hosts and leases
    first.wait(timeout=10)
    assert first.stderr is not None
    first.stderr.close()
    finish(*others)

    counts = recorded(out)
    assert set(counts) == expected(site)  # nothing lost
    records = exported(redis_server.url, crawl_id, out)
    assert len(records) == len(expected(site))  # exactly one final record per URL
    assert {record["url"] for record in records} == expected(site)
    assert all(record["status"] == 200 for record in records)


def test_redis_killed_and_restarted_mid_crawl_loses_nothing(
    site: ServerProcess, own_redis_server: RedisServer, tmp_path: Path
) -> None:
    crawl_id, out = f"restart-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    # Leases (5 heartbeats) outlast the outage, so no worker loses its hosts meanwhile.
    crawl = start_crawl(site, own_redis_server.url, crawl_id, out, "--workers", "2", heartbeat="1")
    wait_until(lambda: lines_in(out) > 100, "100 records")
    own_redis_server.kill()
    time.sleep(1.0)
    written_while_down = lines_in(out)
    own_redis_server.start()  # same port, same directory: it reloads its append-only file
    _, stderr = crawl.communicate(timeout=120)
    assert crawl.returncode == 0, stderr
    assert "Redis unavailable" in stderr
    assert lines_in(out) > written_while_down
    counts = recorded(out)
    assert set(counts) == expected(site)
    # Only what was in flight around the restart may have been recorded twice.
    assert sum(counts.values()) - len(counts) <= 32 * len(HOSTS)
    final = status(own_redis_server.url, crawl_id)
    assert final["finished"]
    assert final["done"] == len(expected(site))


def test_a_worker_without_a_started_crawl_says_how_to_start_it(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    done = subprocess.run(
        corocrawl("worker", *shared(redis_server.url, "never-started", tmp_path)),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "crawl 'never-started' has not been started" in done.stderr
    assert "corocrawl crawl --frontier" in done.stderr
    for command in ("status", "worker"):  # a mistyped crawl id leaves nothing behind in Redis
        done = subprocess.run(
            corocrawl(command, "--frontier", redis_server.url, "--crawl-id", "never-started"),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
    client = redis.Redis.from_url(redis_server.url)
    assert client.keys("corocrawl:{never-started}*") == []
    client.close()


@pytest.mark.parametrize("wrong", ["an HTTP server", "a database out of range"])
def test_a_frontier_that_is_no_usable_redis_is_a_clear_error(
    site: ServerProcess, redis_server: RedisServer, wrong: str
) -> None:
    if wrong == "an HTTP server":
        url, message = site.url.replace("http://", "redis://") + "/0", "Protocol Error"
    else:
        url, message = redis_server.url.removesuffix("/0") + "/99", "DB index is out of range"
    for command in ("status", "worker"):
        done = subprocess.run(
            corocrawl(command, "--frontier", url, "--crawl-id", "any"),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert f"error: --frontier {url}: " in done.stderr
        assert message in done.stderr
        assert "Traceback" not in done.stderr


async def test_an_unreachable_redis_fails_within_the_connect_time() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    with pytest.raises(BackendUnavailable, match=f"--frontier {url}: Redis unavailable"):
        await RedisFrontier.open(url, "any", connect_within=0.5)


def spawned_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


@pytest.mark.parametrize(
    ("sent", "to_every_process"),
    [
        (signal.SIGINT, False),  # `kill -INT PID`
        (signal.SIGTERM, True),  # `pkill`, or systemd stopping a service's whole cgroup
    ],
)
def test_a_shared_crawl_stops_once_on_an_interrupt(
    site: ServerProcess,
    redis_server: RedisServer,
    tmp_path: Path,
    sent: signal.Signals,
    to_every_process: bool,
) -> None:
    crawl_id, out = f"interrupted-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    crawl = start_crawl(site, redis_server.url, crawl_id, out, "--workers", "2", heartbeat="1")
    wait_until(lambda: lines_in(out) > 20, "the first records")
    workers = spawned_children(crawl.pid)
    assert len(workers) == 2
    for pid in [crawl.pid, *(workers if to_every_process else [])]:
        os.kill(pid, sent)
    _, stderr = crawl.communicate(timeout=60)
    assert crawl.returncode == 130, stderr
    assert stderr.count("stopping: finishing") == 2  # each worker heard it once
    assert "abandoning" not in stderr
    assert not status(redis_server.url, crawl_id)["finished"]
    finish(start_worker(redis_server.url, crawl_id, out, "1"))  # the rest, by a newcomer
    records = exported(redis_server.url, crawl_id, out)
    assert {record["url"] for record in records} == expected(site)


def test_redis_settings_that_lose_requests_are_warned_about(
    site: ServerProcess, own_redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(own_redis_server.url)
    client.config_set("appendonly", "no")
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.close()
    done = subprocess.run(
        corocrawl("crawl", seeds(site)[0], *shared(own_redis_server.url, "warned", tmp_path),
                  "--ignore-robots", "--max-depth", "0"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "without 'appendonly yes'" in done.stderr
    assert "maxmemory-policy allkeys-lru" in done.stderr


def test_export_keeps_one_record_per_url_preferring_a_response(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = "http://example.com/a"
    error = {"url": url, "status": None, "error": {"type": "ReadError", "message": "reset"}}
    response = {"url": url, "status": 200, "error": None}
    (tmp_path / "crawl.one.jsonl").write_text(json.dumps(error) + "\n")
    (tmp_path / "crawl.two.jsonl").write_text(
        json.dumps(response) + "\n" + json.dumps({"url": "http://example.com/b", "status": 404})
        + "\n" + '{"url": "http://example.com/torn'  # a killed worker's last, partial line
    )  # fmt: skip
    records = exported(redis_server.url, "crawl", tmp_path)
    assert records == [response, {"url": "http://example.com/b", "status": 404}]
    done = subprocess.run(
        corocrawl("export", "--frontier", redis_server.url, "--crawl-id", "crawl",
                  str(tmp_path / "crawl.one.jsonl"), str(tmp_path / "missing.jsonl")),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"error: {tmp_path / 'missing.jsonl'}: no such file" in done.stderr


def test_export_of_a_recrawled_crawl_keeps_the_latest_page_fetched_whole(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = "http://example.com/a"
    first = {"url": url, "status": 200, "fetched_at": 1000.0, "title": "v1"}
    changed = {"url": url, "status": 200, "fetched_at": 3000.0, "title": "v2",
               "recrawl": {"change": "changed", "by": None, "interval": 43200.0}}  # fmt: skip
    same = {"change": "unchanged", "by": "not-modified", "interval": 86400.0}
    unchanged = {"url": url, "status": 304, "fetched_at": 5000.0, "title": None, "recrawl": same}
    # Files in either order: which worker wrote what decides nothing.
    (tmp_path / "crawl.b.jsonl").write_text(json.dumps(first) + "\n" + json.dumps(unchanged) + "\n")
    (tmp_path / "crawl.a.jsonl").write_text(json.dumps(changed) + "\n")
    assert exported(redis_server.url, "crawl", tmp_path) == [changed]


def test_export_reports_a_line_that_is_not_a_record_and_goes_on(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    good = [{"url": f"http://example.com/{n}", "status": 200} for n in range(3)]
    (tmp_path / "crawl.one.jsonl").write_text(
        json.dumps(good[0]) + "\n{not json\n" + json.dumps(["a list"]) + "\n"
        + "\n".join(json.dumps(record) for record in good[1:]) + "\n"
    )  # fmt: skip
    done = subprocess.run(
        corocrawl("export", "--frontier", redis_server.url, "--crawl-id", "crawl",
                  "--output-dir", str(tmp_path), "-o", str(tmp_path / "all.json")),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    one = tmp_path / "crawl.one.jsonl"
    assert f"{one}:2: not a corocrawl record, skipped" in done.stderr
    assert f"{one}:3: not a corocrawl record, skipped" in done.stderr
    assert "Traceback" not in done.stderr
    lines = (tmp_path / "all.json").read_text().splitlines()
    assert [json.loads(line) for line in lines] == good


def test_redis_refusing_writes_mid_crawl_stops_it_with_a_one_line_error(
    site: ServerProcess, own_redis_server: RedisServer, tmp_path: Path
) -> None:
    crawl_id, out = "refused", tmp_path / "out"
    crawl = start_crawl(site, own_redis_server.url, crawl_id, out, heartbeat="1")
    wait_until(lambda: lines_in(out) > 20, "the first records")
    client = redis.Redis.from_url(own_redis_server.url)
    client.config_set("maxmemory", "1")  # with noeviction: every write is refused (OOM)
    client.close()
    _, stderr = crawl.communicate(timeout=60)
    assert crawl.returncode == 1, stderr
    assert "corocrawl crawl: error: Redis: OutOfMemoryError" in stderr
    assert "Traceback" not in stderr


def test_a_wrong_password_is_a_clear_error_at_once_and_not_printed(
    own_redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(own_redis_server.url)
    client.config_set("requirepass", "right")
    client.close()
    url = own_redis_server.url.replace("redis://", "redis://:wrong@")
    done = subprocess.run(
        corocrawl("status", "--frontier", url, "--crawl-id", "any"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "AuthenticationError" in done.stderr
    assert "redis://:***@" in done.stderr
    assert "wrong" not in done.stderr
    assert "retrying" not in done.stderr  # not waited out as if Redis were down


def test_a_shared_crawl_runs_from_python_without_the_command_line(
    site: ServerProcess, redis_server: RedisServer, tmp_path: Path
) -> None:
    """start, join with two processes, status and export: library calls, no argparse."""
    crawl_id, out = f"python-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    config = CrawlConfig(
        scope=Scope(max_depth=2),
        politeness=Politeness(respect_robots=False),
        fetch=FetchConfig(limits=Limits(concurrency=16, per_host=2)),
    )
    report = asyncio.run(distributed.start(redis_server.url, crawl_id, seeds(site)[:2], config))
    assert (report.added, report.existed, report.settings_differ) == (2, False, False)
    # Joined with other fetching options: the saved scope and politeness still apply.
    own = CrawlConfig(fetch=FetchConfig(limits=Limits(concurrency=8)))
    exits = distributed.join(redis_server.url, crawl_id, own, output_dir=out, processes=2)
    assert exits.codes == (0, 0)
    final = asyncio.run(distributed.status(redis_server.url, crawl_id))
    assert final.finished
    export = distributed.export(redis_server.url, crawl_id, tmp_path / "all.jsonl", output_dir=out)
    assert (export.urls, export.missing, len(export.files)) == (final.counts.total, 0, 2)
    records = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    fetched = {record["url"] for record in records if record["status"] == 200}
    assert max(record["depth"] for record in records) == 3  # depth 3 is recorded, skipped
    assert all(record["skip"] == "depth" for record in records if record["depth"] == 3)
    assert len(fetched) == len({r["url"] for r in records if r["depth"] <= 2})


def test_every_worker_of_a_shared_crawl_gets_its_budgets_and_trap_guards() -> None:
    config = CrawlConfig(
        scope=Scope(max_pages_per_host=10, max_bytes_per_host=1 << 20, max_depth_per_host=3),
        traps=Traps(max_url_length=None, max_queries_per_path=50, strip_tracking=True),
        respect_nofollow=True,
        canonical_dedupe=True,
        sitemaps=Sitemaps(since=datetime(2026, 11, 1, 12, tzinfo=UTC), nesting=2),
    )
    settings = distributed.SharedSettings.of(config)
    applied = settings.from_dict(settings.to_dict()).apply(CrawlConfig())
    assert (applied.scope, applied.traps) == (config.scope, config.traps)
    assert (applied.respect_nofollow, applied.canonical_dedupe) == (True, True)
    assert applied.sitemaps == config.sitemaps


def test_the_shared_settings_are_saved_under_the_command_lines_names() -> None:
    config = CrawlConfig(
        scope=Scope(allow_domains=("example.org",), exclude=("/login",), max_depth=4),
        politeness=Politeness(delay=0.5, respect_robots=False),
        fetch=FetchConfig(limits=Limits(per_host=3, per_ip=6)),
        sort_query=True,
    )
    settings = distributed.SharedSettings.of(config)
    saved = settings.to_dict()
    assert saved == {
        "allow_domain": ["example.org"], "include": [], "exclude": ["/login"], "max_depth": 4,
        "sort_query": True, "max_links_per_page": 1000, "delay": 0.5, "ignore_robots": True,
        "robots_retry": 5.0, "robots_tries": 3, "crawl_delay_max": 30.0, "per_host": 3,
        "page_requisites": False, "max_pages_per_host": None, "max_bytes_per_host": None,
        "max_url_length": 2000, "max_segment_repeats": 2, "max_path_segments": 20,
        "max_queries_per_path": 10_000, "max_urls_per_template": 10_000,
        "strip_session_ids": True, "strip_tracking": False,
        "respect_nofollow": False, "canonical_dedupe": False,
        "adaptive": False, "max_delay": 60.0, "target_concurrency": None,
        "max_depth_per_host": None, "sitemaps": False, "sitemap_since": None,
        "sitemap_nesting": None, "per_ip": 6,
        "revisit_after": 86400.0, "revisit_min": 3600.0, "revisit_max": 7776000.0,
    }  # fmt: skip
    assert distributed.SharedSettings.from_dict(saved) == settings
    # A crawl started by an older corocrawl saved only delay and ignore_robots of these.
    newer = ("robots_retry", "robots_tries", "crawl_delay_max", "page_requisites",
             "max_pages_per_host", "max_bytes_per_host", "respect_nofollow", "adaptive",
             "max_delay", "target_concurrency", "max_depth_per_host", "sitemaps",
             "sitemap_since", "sitemap_nesting", "per_ip", "revisit_after", "revisit_min",
             "revisit_max", "canonical_dedupe", *(one.name for one in fields(Traps)))  # fmt: skip
    older = {name: value for name, value in saved.items() if name not in newer}
    assert distributed.SharedSettings.from_dict(older) == replace(settings, per_ip=None)
    mine = CrawlConfig(fetch=FetchConfig(limits=Limits(concurrency=7)))
    applied = settings.apply(mine)
    assert applied.fetch.limits == Limits(concurrency=7, per_host=3, per_ip=6)
    assert (applied.scope, applied.politeness) == (config.scope, config.politeness)
    with pytest.raises(ConfigError, match="max_pages"):
        distributed.SharedSettings.of(CrawlConfig(scope=Scope(max_pages=5)))


JOIN_SCRIPT = """
import asyncio, sys
from corocrawl import CrawlConfig, Politeness, Scope, distributed

if __name__ == "__main__":
    redis, crawl_id, seed, out = sys.argv[1:5]
    config = CrawlConfig(politeness=Politeness(delay=0.05, respect_robots=False))
    asyncio.run(distributed.start(redis, crawl_id, [seed], config))
    exits = distributed.join(redis, crawl_id, config, output_dir=out, processes=2)
    print([code == 130 or exits.interrupted_outside(code) for code in exits.codes])
"""


def test_join_drains_on_a_ctrl_c_and_leaves_nothing_held(
    site: ServerProcess, redis_server: RedisServer, tmp_path: Path
) -> None:
    crawl_id, out = f"join-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    (tmp_path / "join.py").write_text(JOIN_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, "join.py", redis_server.url, crawl_id, seeds(site)[0], str(out)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: lines_in(out) >= 10, "the first records")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert stdout.strip() == "[True, True]"  # each process heard the interrupt once
    final = status(redis_server.url, crawl_id)
    assert final["in_flight"] == 0  # what was claimed is given back, not left to expire
    assert final["pending"] > 0
    assert final["done"] == len(recorded(out)) < PAGES


def worker_processes_of(parent: int) -> list[int]:
    """The spawned worker processes of `parent` (not multiprocessing's resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def test_a_killed_worker_process_is_reported_and_replaced(
    site: ServerProcess, redis_server: RedisServer, tmp_path: Path
) -> None:
    crawl_id, out = f"replace-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    crawl = start_crawl(site, redis_server.url, crawl_id, out, "--workers", "2")
    wait_until(lambda: len(worker_processes_of(crawl.pid)) == 2, "2 worker processes")
    wait_until(lambda: lines_in(out) > 50, "the first records")
    running = status(redis_server.url, crawl_id)
    assert 0 <= running["fetching"] <= running["in_flight"]
    assert all("fetching" in worker for worker in running["workers"])
    victim = worker_processes_of(crawl.pid)[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: len([pid for pid in worker_processes_of(crawl.pid) if pid != victim]) == 2,
        "a replacement",
    )
    _, stderr = crawl.communicate(timeout=120)
    assert crawl.returncode == 0, stderr
    assert f"(pid {victim}) died (killed by SIGKILL); starting a replacement" in stderr
    records = exported(redis_server.url, crawl_id, out)
    assert {record["url"] for record in records} == expected(site)  # its requests were redone


def test_more_processes_than_hosts_are_told_why_some_wait(
    site: ServerProcess, redis_server: RedisServer, tmp_path: Path
) -> None:
    crawl_id, out = f"fewhosts-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    done = subprocess.run(
        corocrawl("crawl", seeds(site)[0], *shared(redis_server.url, crawl_id, out),
                  "--ignore-robots", "--max-depth", "1", "--workers", "2"),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        "corocrawl crawl: note: 1 host(s) have requests queued now, for 2 processes: each host "
        "is served by one process at a time, so some will wait until more hosts are found"
    ) in done.stderr


def test_a_redis_that_never_comes_back_stops_a_worker_after_the_outage_limit(
    site: ServerProcess, own_redis_server: RedisServer, tmp_path: Path
) -> None:
    """README, Guarantees: a worker waits out a Redis outage for --outage-limit seconds (300
    by default), then stops with one line and exit 1, once: not once per call it had waiting."""
    crawl_id, out = f"gone-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    crawl = start_crawl(
        site, own_redis_server.url, crawl_id, out, "--delay", "0.2", "--outage-limit", "4"
    )
    wait_until(lambda: lines_in(out) > 10, "10 records")
    own_redis_server.kill()
    killed = time.monotonic()
    _, stderr = crawl.communicate(timeout=60)
    waited = time.monotonic() - killed
    assert crawl.returncode == 1, stderr
    assert 4 <= waited < 8, stderr
    assert stderr.splitlines()[-1].startswith("corocrawl crawl: error: Redis unavailable for 4s")
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("workers", "interrupts"), [("1", 1), ("1", 2), ("2", 1)])
def test_ctrl_c_ends_a_worker_within_seconds_while_redis_is_down(
    site: ServerProcess,
    own_redis_server: RedisServer,
    tmp_path: Path,
    workers: str,
    interrupts: int,
) -> None:
    """README, Guarantees: during an outage Ctrl-C ends a worker within seconds, not after the
    outage limit (what it held is redone by the others)."""
    crawl_id, out = f"down-{uuid.uuid4().hex[:8]}", tmp_path / "out"
    crawl = start_crawl(
        site, own_redis_server.url, crawl_id, out, "--delay", "0.2", "--workers", workers
    )
    wait_until(lambda: lines_in(out) > 10, "10 records")
    own_redis_server.kill()
    time.sleep(1.5)  # waiting out the outage now
    for _ in range(interrupts):
        crawl.send_signal(signal.SIGINT)
        time.sleep(0.2)
    interrupted = time.monotonic()
    _, stderr = crawl.communicate(timeout=60)
    assert time.monotonic() - interrupted < 5, stderr
    assert crawl.returncode != 0
    assert "Redis unavailable" in stderr
    assert "Traceback" not in stderr
