"""A crawl shared through Redis: start it, join it from any number of processes on any number
of machines, see where it stands, and gather its records.

    from corocrawl import CrawlConfig, Scope, distributed

    redis = "redis://127.0.0.1:6379/0"
    config = CrawlConfig(scope=Scope(max_depth=3))
    await distributed.start(redis, "shop", ["https://shop.example/"], config)
    # on every machine, as many processes as it has cores:
    distributed.join(redis, "shop", config, output_dir="out", processes=4)
    print((await distributed.status(redis, "shop")).counts)
    distributed.export(redis, "shop", "shop.jsonl", output_dir="out")

Whoever starts a crawl saves its `SharedSettings` (scope, politeness, what is taken from a page)
in Redis beside the seeds; every worker crawls by those, with its own fetching options
(concurrency, timeouts, headers). Each worker process writes OUTPUT_DIR/CRAWL_ID.WORKER.jsonl
and acknowledges a request only once its record is written; `export` keeps one record per URL.
The `corocrawl crawl --frontier`, `worker`, `status` and `export` commands are these calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ._config import CrawlConfig, Politeness, Revisit, Scope, Sitemaps, Traps
from ._crawl.crawler import Crawler, seed_requests
from ._exceptions import ConfigError, CrawlNotFound
from ._export import export_best_records
from ._loop import run
from ._sinks import JsonlSink
from ._stats import Stats, StatsSnapshot
from ._urls import checked_seeds
from ._workers.interrupts import Interrupts
from ._workers.spawn import (
    EXIT_INTERRUPTED,
    INTERRUPT_FROM_PARENT,
    ProcessExits,
    run_processes,
)
from .frontier import (
    DEFAULT_HEARTBEAT,
    DEFAULT_OUTAGE_LIMIT,
    CrawlStatus,
    RedisFrontier,
    WorkerStatus,
)

logger = logging.getLogger("corocrawl")

__all__ = [
    "CrawlStatus",
    "ExportReport",
    "SharedSettings",
    "SharedWorker",
    "StartReport",
    "WorkerStatus",
    "ensure_started",
    "export",
    "join",
    "open_worker",
    "start",
    "status",
    "work",
]


@dataclass(frozen=True, slots=True)
class SharedSettings:
    """What every worker of a shared crawl must agree on: where it may go and how gently.

    Saved in Redis by whoever starts the crawl, under the names of the command-line options
    (so a crawl started by the command line and one started from Python read alike). A page
    budget (`Scope.max_pages`) is not shared: a shared crawl has none yet.
    """

    scope: Scope
    politeness: Politeness
    per_host: int | None
    max_links_per_page: int
    sort_query: bool
    page_requisites: bool = False
    traps: Traps = field(default_factory=Traps)
    respect_nofollow: bool = False
    canonical_dedupe: bool = False
    sitemaps: Sitemaps | None = None
    per_ip: int | None = None
    revisit: Revisit = field(default_factory=Revisit)

    @classmethod
    def of(cls, config: CrawlConfig) -> SharedSettings:
        if config.scope.max_pages is not None:
            raise ConfigError("a page budget (max_pages) is not supported on a shared crawl yet")
        return cls(
            scope=config.scope,
            politeness=config.politeness,
            per_host=config.fetch.limits.per_host,
            max_links_per_page=config.max_links_per_page,
            sort_query=config.sort_query,
            page_requisites=config.page_requisites,
            traps=config.traps,
            respect_nofollow=config.respect_nofollow,
            canonical_dedupe=config.canonical_dedupe,
            sitemaps=config.sitemaps,
            per_ip=config.fetch.limits.per_ip,
            revisit=config.revisit,
        )

    def apply(self, config: CrawlConfig) -> CrawlConfig:
        """`config`'s own fetching options, with these shared settings in place of its own."""
        limits = replace(config.fetch.limits, per_host=self.per_host, per_ip=self.per_ip)
        return replace(
            config,
            fetch=replace(config.fetch, limits=limits),
            scope=self.scope,
            politeness=self.politeness,
            max_links_per_page=self.max_links_per_page,
            sort_query=self.sort_query,
            page_requisites=self.page_requisites,
            traps=self.traps,
            respect_nofollow=self.respect_nofollow,
            canonical_dedupe=self.canonical_dedupe,
            sitemaps=self.sitemaps,
            revisit=self.revisit,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "allow_domain": list(self.scope.allow_domains),
            "include": list(self.scope.include),
            "exclude": list(self.scope.exclude),
            "max_depth": self.scope.max_depth,
            "sort_query": self.sort_query,
            "max_links_per_page": self.max_links_per_page,
            "delay": self.politeness.delay,
            "ignore_robots": not self.politeness.respect_robots,
            "robots_retry": self.politeness.robots_retry,
            "robots_tries": self.politeness.robots_tries,
            "crawl_delay_max": self.politeness.crawl_delay_max,
            "adaptive": self.politeness.adaptive,
            "max_delay": self.politeness.max_delay,
            "target_concurrency": self.politeness.target_concurrency,
            "per_host": self.per_host,
            "per_ip": self.per_ip,
            "page_requisites": self.page_requisites,
            "max_pages_per_host": self.scope.max_pages_per_host,
            "max_bytes_per_host": self.scope.max_bytes_per_host,
            "max_depth_per_host": self.scope.max_depth_per_host,
            **{name: getattr(self.traps, name) for name in _TRAP_SETTINGS},
            "respect_nofollow": self.respect_nofollow,
            "canonical_dedupe": self.canonical_dedupe,
            "sitemaps": self.sitemaps is not None,
            "sitemap_since": _since_text(self.sitemaps),
            "sitemap_nesting": None if self.sitemaps is None else self.sitemaps.nesting,
            "revisit_after": self.revisit.after,
            "revisit_min": self.revisit.least,
            "revisit_max": self.revisit.most,
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> SharedSettings:
        defaults = Politeness()
        return cls(
            scope=Scope(
                allow_domains=tuple(saved["allow_domain"]),
                include=tuple(saved["include"]),
                exclude=tuple(saved["exclude"]),
                max_depth=saved["max_depth"],
                max_pages_per_host=saved.get("max_pages_per_host"),
                max_bytes_per_host=saved.get("max_bytes_per_host"),
                max_depth_per_host=saved.get("max_depth_per_host"),
            ),
            # A crawl started by an older corocrawl saved only delay and ignore_robots.
            politeness=Politeness(
                delay=saved["delay"],
                respect_robots=not saved["ignore_robots"],
                robots_retry=saved.get("robots_retry", defaults.robots_retry),
                robots_tries=saved.get("robots_tries", defaults.robots_tries),
                crawl_delay_max=saved.get("crawl_delay_max", defaults.crawl_delay_max),
                adaptive=saved.get("adaptive", defaults.adaptive),
                max_delay=max(saved.get("max_delay", defaults.max_delay), saved["delay"]),
                target_concurrency=saved.get("target_concurrency"),
            ),
            per_host=saved["per_host"],
            per_ip=saved.get("per_ip"),
            max_links_per_page=saved["max_links_per_page"],
            sort_query=saved["sort_query"],
            page_requisites=saved.get("page_requisites", False),
            # A crawl started before the trap guards has their defaults.
            traps=Traps(**{name: saved[name] for name in _TRAP_SETTINGS if name in saved}),
            respect_nofollow=saved.get("respect_nofollow", False),
            canonical_dedupe=saved.get("canonical_dedupe", False),
            sitemaps=Sitemaps(
                since=_since(saved.get("sitemap_since")), nesting=saved["sitemap_nesting"]
            )
            if saved.get("sitemaps")
            else None,
            revisit=Revisit(saved["revisit_after"], saved["revisit_min"], saved["revisit_max"])
            if "revisit_after" in saved
            else Revisit(),
        )


def _since_text(sitemaps: Sitemaps | None) -> str | None:
    return None if sitemaps is None or sitemaps.since is None else sitemaps.since.isoformat()


def _since(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


_TRAP_SETTINGS = tuple(one.name for one in fields(Traps))


@dataclass(frozen=True, slots=True)
class StartReport:
    """What `start` did: `added` new seeds, `revisited` pages due again; `existed` if the
    crawl was started before, in which case its saved settings apply, and `settings_differ`
    if they are not these."""

    added: int
    existed: bool
    settings_differ: bool
    server_warnings: tuple[str, ...]
    revisited: int = 0  # pages queued again by a recrawl


async def start(
    frontier_url: str,
    crawl_id: str,
    seeds: Iterable[str],
    config: CrawlConfig,
    *,
    recrawl: bool = False,
) -> StartReport:
    """Start a shared crawl, or add seeds to a running one; nothing starts crawling yet. With
    `recrawl`, the pages due by now are queued again too (see Revisit)."""
    settings = SharedSettings.of(config)
    seeds = checked_seeds(seeds)
    frontier = await RedisFrontier.open(frontier_url, crawl_id, join=False, create=True)
    try:
        warnings = tuple(await frontier.server_warnings())
        saved = await frontier.shared_settings()
        current = settings if saved is None else SharedSettings.from_dict(saved)
        added = await frontier.add(
            seed_requests(
                seeds,
                sort_query=current.sort_query,
                stripped=current.traps.stripped_parameters,
            )
        )
        revisited = await frontier.revisit(time.time()) if recrawl else 0
        # Saved only now: a worker that finds the settings finds the seeds queued too.
        await frontier.save_settings(settings.to_dict())
        return StartReport(added, saved is not None, current != settings, warnings, revisited)
    finally:
        await frontier.close()


@dataclass(slots=True)
class SharedWorker:
    """One process's part of a shared crawl: its crawler, writing its own output file."""

    crawler: Crawler
    frontier: RedisFrontier
    output: JsonlSink
    path: Path

    @property
    def worker_id(self) -> str:
        return self.frontier.worker_id

    @property
    def stats(self) -> Stats:
        return self.crawler.stats

    def stop(self) -> None:
        """Stop as the crawler stops (take no new requests, finish those in flight), and
        wait out no Redis outage meanwhile: a stopped worker ends within seconds."""
        self.crawler.stop()
        self.frontier.stop_waiting()


@contextlib.asynccontextmanager
async def open_worker(
    frontier_url: str,
    crawl_id: str,
    config: CrawlConfig,
    *,
    output_dir: str | Path = ".",
    heartbeat: float = DEFAULT_HEARTBEAT,
    outage_limit: float = DEFAULT_OUTAGE_LIMIT,
) -> AsyncIterator[SharedWorker]:
    """Join the crawl as one worker; run `worker.crawler.run([])` to work until it is finished.

    The crawl's shared settings replace `config`'s scope and politeness; `config`'s fetching
    options are this worker's own. A worker silent for 5 heartbeats loses its hosts to others.
    A Redis outage is waited out for `outage_limit` seconds, then BackendUnavailable is raised.
    """
    frontier = await RedisFrontier.open(
        frontier_url,
        crawl_id,
        heartbeat=heartbeat,
        lease_ttl=5 * heartbeat,
        unavailable_after=outage_limit,
        create=False,
    )
    try:
        settings = await _saved_settings(frontier)
        path = Path(output_dir) / f"{crawl_id}.{frontier.worker_id}.jsonl"
        _make_directory(path.parent)
        output = JsonlSink(path, append=True)
        try:
            crawler = Crawler(settings.apply(config), frontier=frontier, output=output)
            frontier.report_fetching(lambda: crawler.stats.in_flight)
            yield SharedWorker(crawler, frontier, output, path)
        finally:
            output.close()
    finally:
        await frontier.close()


async def work(
    frontier_url: str,
    crawl_id: str,
    config: CrawlConfig,
    *,
    output_dir: str | Path = ".",
    heartbeat: float = DEFAULT_HEARTBEAT,
    outage_limit: float = DEFAULT_OUTAGE_LIMIT,
) -> StatsSnapshot:
    """Work on the crawl in this process until it is finished; what this process did."""
    async with open_worker(
        frontier_url,
        crawl_id,
        config,
        output_dir=output_dir,
        heartbeat=heartbeat,
        outage_limit=outage_limit,
    ) as worker:
        await worker.crawler.run([])
        return worker.crawler.stats.snapshot()


def join(
    frontier_url: str,
    crawl_id: str,
    config: CrawlConfig,
    *,
    output_dir: str | Path = ".",
    heartbeat: float = DEFAULT_HEARTBEAT,
    outage_limit: float = DEFAULT_OUTAGE_LIMIT,
    processes: int = 1,
) -> ProcessExits:
    """Work on the crawl with `processes` processes of this machine until it is finished
    (blocking; guard the script with `if __name__ == "__main__":`). Ctrl-C stops them as it
    stops one: the first drains, the second abandons."""
    if processes < 1:
        raise ConfigError(f"processes must be >= 1, got {processes}")
    for warning in run(ensure_started(frontier_url, crawl_id)):
        logger.warning("%s", warning)
    joining = _Joining(frontier_url, crawl_id, config, str(output_dir), heartbeat, outage_limit)
    return run_processes(_work_in_process, (joining,), processes, name="corocrawl-worker")


@dataclass(frozen=True, slots=True)
class _Joining:
    """What each process of `join` opens its worker with (sent to it pickled)."""

    frontier_url: str
    crawl_id: str
    config: CrawlConfig
    output_dir: str
    heartbeat: float
    outage_limit: float


def _work_in_process(joining: _Joining) -> None:
    """One process of `join`: works until the crawl is finished, or its parent passes on a
    stop (INTERRUPT_FROM_PARENT), then exits 0, or 130 if it was stopped."""
    logging.basicConfig(format="corocrawl worker: %(message)s", level=logging.WARNING)
    stopped = run(_work_until_stopped(joining))
    sys.exit(EXIT_INTERRUPTED if stopped else 0)


async def _work_until_stopped(joining: _Joining) -> bool:
    async with open_worker(
        joining.frontier_url,
        joining.crawl_id,
        joining.config,
        output_dir=joining.output_dir,
        heartbeat=joining.heartbeat,
        outage_limit=joining.outage_limit,
    ) as worker:
        crawler = worker.crawler
        task = asyncio.create_task(crawler.run([]))
        interrupts = Interrupts(
            stop=worker.stop,
            in_flight=lambda: crawler.stats.in_flight,
            run_task=task,
            say=logger.warning,
            signals=(INTERRUPT_FROM_PARENT,),
        )
        with interrupts:
            try:
                await task
            except asyncio.CancelledError:
                if not interrupts.abandoned:
                    raise
        return interrupts.count > 0


async def status(frontier_url: str, crawl_id: str) -> CrawlStatus:
    """Where the crawl stands: counts, the longest queues by host, the live workers."""
    async with _reading(frontier_url, crawl_id) as frontier:
        return await frontier.status()


async def ensure_started(frontier_url: str, crawl_id: str) -> tuple[str, ...]:
    """Check that the crawl exists and is seeded (CrawlNotFound if not), before any process
    joins it; what in the Redis server's settings could lose requests."""
    async with _reading(frontier_url, crawl_id) as frontier:
        await _saved_settings(frontier)
        return tuple(await frontier.server_warnings())


@contextlib.asynccontextmanager
async def _reading(frontier_url: str, crawl_id: str) -> AsyncIterator[RedisFrontier]:
    """The crawl's frontier, opened to read it without joining it as a worker."""
    frontier = await RedisFrontier.open(frontier_url, crawl_id, join=False)
    try:
        yield frontier
    finally:
        await frontier.close()


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What `export` wrote: `urls` records from `files`. `status` is the crawl's in Redis
    (None when it is gone from Redis); `missing` counts final URLs that no file recorded."""

    urls: int
    files: tuple[Path, ...]
    status: CrawlStatus | None

    @property
    def missing(self) -> int:
        if self.status is None:
            return 0
        counts = self.status.counts
        return max(0, counts.done + counts.failed + counts.skipped - self.urls)


def export(
    frontier_url: str,
    crawl_id: str,
    output: str | Path,
    *,
    files: Sequence[Path] = (),
    output_dir: str | Path = ".",
    on_bad_line: Callable[[str], None] = lambda _line: None,
) -> ExportReport:
    """Write one record per URL (a URL fetched twice, after a worker died, keeps one) from the
    workers' files (`files`, by default OUTPUT_DIR/CRAWL_ID.*.jsonl) to `output` ('-' for
    stdout), in memory that does not grow with the crawl. Blocking: it reads and writes files.
    """
    crawl_status = run(_status_if_any(frontier_url, crawl_id))
    found = tuple(files) or tuple(sorted(Path(output_dir).glob(f"{crawl_id}.*.jsonl")))
    if not found:
        raise ConfigError(f"no output files of crawl {crawl_id!r} in {output_dir}")
    for path in found:
        if not path.is_file():
            raise ConfigError(f"{path}: {'a directory' if path.is_dir() else 'no such file'}")
    sink = JsonlSink(output)
    try:
        urls = export_best_records(
            found,
            sink,
            on_bad_line,
            scratch_dir=found[0].parent if str(output) == "-" else Path(output).parent,
        )
    finally:
        sink.close()
    return ExportReport(urls, found, crawl_status)


async def _status_if_any(frontier_url: str, crawl_id: str) -> CrawlStatus | None:
    try:
        return await status(frontier_url, crawl_id)
    except CrawlNotFound:
        return None


async def _saved_settings(frontier: RedisFrontier) -> SharedSettings:
    saved = await frontier.shared_settings()
    if saved is None:  # its seeds are being queued: settings are saved after them
        raise CrawlNotFound(f"crawl {frontier.crawl_id!r} is still being seeded; try again")
    return SharedSettings.from_dict(saved)


def _make_directory(path: Path) -> None:
    """Once, as a worker joins: nothing else is on the loop yet."""
    path.mkdir(parents=True, exist_ok=True)
