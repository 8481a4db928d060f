"""Adaptive politeness: a host's delay follows its latency, and a host that answers 429 is
slowed down and never again asked as fast as it was then (Throttle, and a crawl of the bundled
server's rate-limited site)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest

from corocrawl import Politeness
from corocrawl._config import ConfigError
from corocrawl._engine.scheduler import Scheduler
from corocrawl._engine.throttle import Throttle
from corocrawl.testing import ServerProcess

RATE = 30  # requests a second the site allows


def server_log(server: ServerProcess, key: str) -> list[tuple[float, int]]:
    with urllib.request.urlopen(f"{server.url}/limited-log/{key}", timeout=10) as answer:
        return [(at, status) for at, status in json.load(answer)]


@pytest.mark.parametrize("retry_after", [False, True])
def test_a_host_answering_429_above_a_rate_sees_the_crawl_settle_under_it(
    server: ServerProcess, tmp_path: Path, retry_after: bool
) -> None:
    key = uuid.uuid4().hex
    seed = f"{server.url}/limited/{key}/{RATE}/0" + ("?retry_after=1" if retry_after else "")
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "crawl", seed, "-o", str(tmp_path / "out.jsonl"),
         "--ignore-robots", "--max-pages", "240", "--per-host", "8", "--adaptive-delay"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = server_log(server, key)
    assert any(status == 429 for _, status in log)  # the crawl did go too fast at first
    # The rate the server saw, second by second, over the second half of the crawl:
    # every request counted, the refused ones too.
    end = log[-1][0]
    seconds = Counter(int(at) for at, _ in log if at >= end / 2)
    full_seconds = [count for second, count in seconds.items() if second + 1 <= end]
    assert full_seconds
    assert max(full_seconds) <= RATE * 1.1, sorted(seconds.items())
    refused = sum(status == 429 for at, status in log if at >= end / 2)
    assert refused <= 0.05 * sum(seconds.values())


def test_a_429_doubles_the_delay_and_the_pace_then_is_never_reached_again() -> None:
    throttle = Throttle(least=0.0, most=60.0, target=4)
    now = 0.0
    for _ in range(20):  # fast responses, 10 ms apart: no delay
        now += 0.01
        assert throttle.observe("h", latency=0.002, status=200, now=now, started=now) < 0.01
    now += 0.01
    slowed = throttle.observe("h", latency=0.002, status=429, now=now, started=now)
    assert slowed >= 0.1  # at least the least backoff
    delays = []
    for _ in range(500):  # recovers gradually...
        now += slowed
        delays.append(throttle.observe("h", latency=0.002, status=200, now=now, started=now))
    assert all(later <= earlier for earlier, later in itertools.pairwise(delays))
    assert delays[1] >= delays[0] * 0.95
    assert min(delays) >= 0.01 * 1.25  # ...never as fast as when the 429 came


def test_the_delay_follows_latency_up_fast_and_down_gently() -> None:
    throttle = Throttle(least=0.0, most=5.0, target=2)
    first = throttle.observe("h", latency=2.0, status=200, now=1.0, started=1.0)
    assert first == pytest.approx(0.5)  # halfway to latency / target
    assert throttle.observe("h", latency=0.0, status=200, now=2.0, started=2.0) == pytest.approx(
        0.475
    )
    assert throttle.observe("h", latency=0.0, status=404, now=3.0, started=3.0) == pytest.approx(
        0.475
    )
    assert throttle.observe("h", latency=100.0, status=None, now=4.0, started=4.0) == 5.0  # at most
    quick = Throttle(least=0.0, most=5.0, target=4)  # 5 ms would only cost a timer a request
    assert quick.observe("q", latency=0.02, status=200, now=1.0, started=1.0) == 0.0
    fixed = Throttle(least=1.0, most=5.0, target=2, adaptive=False)
    assert fixed.observe("h", latency=9.0, status=200, now=1.0, started=1.0) == 1.0
    assert fixed.observe("h", latency=0.0, status=503, now=2.0, started=2.0) == 2.0


def test_a_paced_host_waits_from_the_moment_it_is_slowed() -> None:
    scheduler: Scheduler[str] = Scheduler(concurrency=10, per_host=10)
    scheduler.add("a", "h", now=0.0)
    scheduler.add("b", "h", now=0.0)
    assert scheduler.pop_ready(0.0) == ("a", "h")
    scheduler.pace("h", 2.0, now=0.5)
    assert scheduler.pop_ready(1.0) is None
    assert scheduler.pop_ready(2.5) == ("b", "h")


def test_a_max_delay_below_the_delay_is_refused() -> None:
    with pytest.raises(ConfigError, match="max delay"):
        Politeness(delay=5.0, max_delay=1.0)
