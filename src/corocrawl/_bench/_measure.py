"""Running one contender in its own process and reading what it cost: time, CPU, memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import orjson

__all__ = ["Measurement", "Spread", "measure"]


@dataclass(frozen=True, slots=True)
class Measurement:
    """One run of one contender, in its own process: `cpu` is the CPU time of its fetching
    (user + system, imports excluded) and `peak_rss_mb` the process's own peak memory."""

    contender: str
    requests: int
    wall: float
    ok: int
    failed: int
    cpu: float
    peak_rss_mb: float
    server_cpu: float | None = None
    worker_cpu: float = 0.0  # the part of `cpu` spent in worker processes

    @property
    def rate(self) -> float:
        return self.requests / self.wall if self.wall > 0 else 0.0

    @property
    def cpu_per_request_us(self) -> float:
        return self.cpu / self.requests * 1e6 if self.requests else 0.0

    @property
    def server_cpu_per_request_us(self) -> float | None:
        if self.server_cpu is None or not self.requests:
            return None
        return self.server_cpu / self.requests * 1e6


@dataclass(frozen=True, slots=True)
class Spread:
    low: float
    median: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(min(values), statistics.median(values), max(values))


def measure(
    contender: str,
    url: str,
    requests: int,
    concurrency: int,
    *,
    timeout: float,
    server_cpu: Callable[[], float | None] = lambda: None,
    ca_file: str | None = None,
) -> Measurement:
    """Run `contender` in a fresh interpreter; raise RuntimeError with its stderr if it fails.
    `server_cpu` reads the server's CPU time, before and after, to say who was the bottleneck.
    With `ca_file`, the contender trusts that CA (SSL_CERT_FILE, which every client here reads)."""
    server_cpu_before = server_cpu()
    process = subprocess.Popen(
        [sys.executable, "-m", "corocrawl._bench._contenders", contender, url,
         str(requests), str(concurrency)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=None if ca_file is None else {**os.environ, "SSL_CERT_FILE": ca_file},
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise RuntimeError(f"{contender} did not finish within {timeout:g}s") from None
    server_cpu_after = server_cpu()
    if process.returncode != 0:
        raise RuntimeError(f"{contender} failed: {err.decode(errors='replace').strip()[-2000:]}")
    result = orjson.loads(out.splitlines()[-1])
    return Measurement(
        contender=contender,
        requests=requests,
        wall=result["wall"],
        ok=result["ok"],
        failed=result["failed"],
        cpu=result["cpu"],
        peak_rss_mb=result["peak_rss_mb"],
        worker_cpu=result.get("worker_cpu", 0.0),
        server_cpu=None
        if server_cpu_before is None or server_cpu_after is None
        else server_cpu_after - server_cpu_before,
    )
