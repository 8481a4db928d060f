"""--metrics-port: a run's statistics as Prometheus metrics, served while it runs.

prometheus-client serves them from a thread of its own; at each scrape the numbers are read
on the event loop (where they change), so a scrape sees one consistent moment.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from .._exceptions import ConfigError
from .._stats import Stats, StatsSnapshot
from ..frontier import FrontierCounts

__all__ = ["LATENCY_BUCKETS", "TOP_HOSTS", "serve_metrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
TOP_HOSTS = 20
_SCRAPE_WAIT = 5.0  # seconds a scrape waits for the event loop


@dataclass(frozen=True, slots=True)
class _Moment:
    stats: StatsSnapshot
    latency_below: list[int]
    latency_count: int
    latency_sum: float
    frontier: FrontierCounts | None
    hosts: list[tuple[str, int]]


class _RunCollector(Collector):
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        stats: Stats,
        frontier: Callable[[], FrontierCounts] | None,
        hosts: Callable[[int], list[tuple[str, int]]] | None,
    ) -> None:
        self._loop = loop
        self._stats = stats
        self._frontier = frontier
        self._hosts = hosts

    def _moment(self) -> _Moment:
        latency = self._stats.latency
        return _Moment(
            stats=self._stats.snapshot(),
            latency_below=latency.counts_below(LATENCY_BUCKETS),
            latency_count=latency.count,
            latency_sum=latency.sum,
            frontier=None if self._frontier is None else self._frontier(),
            hosts=[] if self._hosts is None else self._hosts(TOP_HOSTS),
        )

    async def _on_loop(self) -> _Moment:
        return self._moment()

    def collect(self) -> Iterator[Any]:
        try:
            future = asyncio.run_coroutine_threadsafe(self._on_loop(), self._loop)
        except RuntimeError:  # the loop is closed: the run is over
            return
        try:
            moment = future.result(_SCRAPE_WAIT)
        except (TimeoutError, concurrent.futures.CancelledError):  # busy, or the run ended
            future.cancel()
            return
        yield from _families(moment)


def _families(moment: _Moment) -> Iterator[Any]:
    snap = moment.stats
    yield _counter("corocrawl_urls_recorded", "URLs with their final record", snap.recorded)
    yield _counter("corocrawl_fetched", "URLs fetched (a response, or an error)", snap.fetched)
    yield _counter("corocrawl_requests", "Requests sent: one per fetch, and the retries",
                   snap.fetched + snap.retries)  # fmt: skip
    yield _counter("corocrawl_retries", "Requests tried again", snap.retries)
    yield _counter("corocrawl_response_bytes", "Body bytes received", snap.bytes)
    by_class = CounterMetricFamily(
        "corocrawl_responses", "Final responses by status class", labels=["class"]
    )
    classes: dict[str, int] = {}
    for status, count in snap.by_status.items():
        classes[f"{status // 100}xx"] = classes.get(f"{status // 100}xx", 0) + count
    for name, count in sorted(classes.items()):
        by_class.add_metric([name], count)
    yield by_class
    errors = CounterMetricFamily("corocrawl_errors", "Failed URLs by error type", labels=["type"])
    for name, count in sorted(snap.by_error.items()):
        errors.add_metric([name], count)
    yield errors
    skipped = CounterMetricFamily("corocrawl_skipped", "URLs skipped by reason", labels=["reason"])
    for name, count in sorted(snap.by_skip.items()):
        skipped.add_metric([name], count)
    yield skipped
    yield _counter("corocrawl_worker_restarts", "Worker processes replaced", snap.worker_restarts)
    yield GaugeMetricFamily("corocrawl_in_flight", "Requests in flight", value=snap.in_flight)
    if moment.frontier is not None:
        frontier = GaugeMetricFamily(
            "corocrawl_frontier_requests", "The crawl's requests by state", labels=["state"]
        )
        for state in ("pending", "leased", "done", "failed", "skipped"):
            frontier.add_metric([state], getattr(moment.frontier, state))
        yield frontier
    queues = GaugeMetricFamily(
        "corocrawl_host_queue_depth",
        f"Requests waiting for their host's turn, on the {TOP_HOSTS} hosts with most",
        labels=["host"],
    )
    for host, depth in moment.hosts:
        queues.add_metric([host], depth)
    yield queues
    buckets = [
        (str(bound), count)
        for bound, count in zip(LATENCY_BUCKETS, moment.latency_below, strict=True)
    ]
    yield HistogramMetricFamily(
        "corocrawl_fetch_duration_seconds",
        "Time to fetch a URL that got a response, retries included",
        buckets=[*buckets, ("+Inf", moment.latency_count)],
        sum_value=moment.latency_sum,
    )


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


@contextlib.contextmanager
def serve_metrics(
    address: str,
    stats: Stats,
    *,
    frontier: Callable[[], FrontierCounts] | None = None,
    hosts: Callable[[int], list[tuple[str, int]]] | None = None,
) -> Iterator[int]:
    """Serve the run's metrics on `address` (HOST:PORT) at /metrics until the block ends;
    gives the port (PORT 0: a free one). Called on the event loop."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RunCollector(asyncio.get_running_loop(), stats, frontier, hosts))
    host, _, port_text = address.rpartition(":")
    host, port = host.strip("[]"), int(port_text)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
