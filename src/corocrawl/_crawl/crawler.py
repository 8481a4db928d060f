"""The one place a crawl is wired: frontier -> engine -> parse -> scope -> frontier, and records.

Two orderings keep the promise that no URL is lost. A page's links reach the frontier before
the page's own record is written, and a request is marked complete only after its record has
been flushed to the output. And one step makes it exactly once: the requests marked complete
and the length of each output file holding their records are kept in the same transaction.
Whenever the process dies, a resumed crawl cuts each file back to that length, dropping the
records of requests that were never marked complete, and redoes those requests. Pages are
committed in batches (their links in one transaction, then their records), which keeps all this
at a fraction of the cost of a transaction per page.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from typing import Any

from yarl import URL

from .._config import CrawlConfig
from .._exceptions import CorocrawlError, SinkError, first_of
from .._models import Outcome, Request, SkipReason, Visit
from .._sinks import Sink
from .._stats import Stats
from .._urls import canonical_url, fetchable_url, fingerprint, host_key
from .._warc import Unchanged, WarcWriter
from .._workers.jobs import Executor
from .._workers.pool import WorkerPool, require_workers
from ..frontier import Discovered, Frontier, Leased
from .job import CrawlJob
from .pages import Handler, PageProcessor, ProcessedPage
from .recrawl import UNCHANGED, RecrawlTally
from .sitemaps import SITEMAP_MAX_BYTES
from .traps import ClaimGuards, without_parameters

__all__ = ["Crawler", "seed_requests"]

_COMMIT_EVERY = 0.05
_COMMIT_PAGES = 256
_FLUSH_EVERY = 0.2
_IDLE_POLL = 0.2
_LAST_FLUSH_WITHIN = 2.0


class Crawler:
    """Crawls from seeds within a scope, writing one record per URL it reaches.

        frontier = await SqliteFrontier.open("crawl.db")
        output = JsonlSink("pages.jsonl", append=frontier.resumed)  # a resume adds to it
        crawler = Crawler(CrawlConfig(), frontier=frontier, output=output)
        await crawler.run(["https://example.org/"])

    With `warc`, every exchange (redirect hops too) is archived there and each record says
    where its response is (`warc`: file, offset, length). Running again with the same
    frontier resumes where the last run stopped; with `recrawl`, it also revisits the pages
    due by `clock()` (see Revisit), asking for each only if it changed. With `workers`
    above 1, pages are fetched and parsed in that many processes, each owning a share of the
    hosts; this process keeps the frontier and writes every output (a handler must then be
    importable by name, as for multiprocessing).
    """

    def __init__(
        self,
        config: CrawlConfig,
        *,
        frontier: Frontier,
        output: Sink,
        handler: Handler | None = None,
        items: Sink | None = None,
        stats: Stats | None = None,
        workers: int = 1,
        warc: WarcWriter | None = None,
        recrawl: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        require_workers(workers)
        if warc is not None:  # written here, from what the workers send back
            config = replace(config, fetch=replace(config.fetch, keep_exchanges=True))
            output.before_flush = warc.flush  # the archive holds what a record points to
        if config.fetch.replay_only:  # what an archive holds was allowed when it was fetched
            config = replace(config, politeness=replace(config.politeness, respect_robots=False))
        self.config = config
        self._warc = warc
        self.stats = stats if stats is not None else Stats()
        self._frontier = frontier
        self._output = output
        self._handler = handler
        self._items = items
        self._outputs = [sink for sink in (output, items) if sink is not None]
        self._workers = workers
        self._recrawl = recrawl
        self._clock = clock
        self.recrawl = RecrawlTally()
        self._executor: Executor[ProcessedPage] | None = None
        self._stop_requested = False
        self._progress = asyncio.Event()
        self._finished = asyncio.Event()
        self._batch_links: list[Discovered] = []
        self._batch_records: list[tuple[dict[str, Any], int, Outcome, Visit | None]] = []
        self._batch_items: list[dict[str, Any]] = []
        self._commit_lock = asyncio.Lock()
        self._written: dict[Outcome, list[int]] = {outcome: [] for outcome in Outcome}
        self._visits: dict[int, Visit] = {}  # of the requests written
        self._fetches_allowed = config.scope.max_pages
        guards = ClaimGuards(config.scope, config.traps)
        self._guards = guards if guards.active else None
        self._batch: list[Leased] = []  # the last claimed batch, handed out up to _next_in_batch
        self._next_in_batch = 0

    def stop(self) -> None:
        """Take no new requests; those in flight finish and are recorded."""
        self._stop_requested = True
        if self._executor is not None:
            self._executor.stop()
        self._progress.set()

    def queued_by_host(self, top: int) -> list[tuple[str, int]]:
        """The `top` hosts with the most requests claimed and waiting for their turn (with
        workers: handed to them and not done), and how many; none when not running."""
        return [] if self._executor is None else self._executor.queued_by_host(top)

    async def run(self, seeds: Iterable[str]) -> None:
        await self._cut_outputs_back()
        executor = self._executor = self._executor_for(await self._add_seeds(seeds))
        if self._recrawl:
            self.recrawl.due = await self._frontier.revisit(self._clock())
        if self._stop_requested:
            executor.stop()
        counts = self._frontier.counts()
        if self._fetches_allowed is not None and not self._recrawl:
            # A resumed crawl goes on with its budget; a recrawl has one of its own.
            self._fetches_allowed -= counts.done + counts.failed  # skips fetched nothing
        try:
            # A failing flush (disk full, state file gone) ends the crawl loudly, not silently.
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._flush_periodically())
                try:
                    await executor.run(self._requests(executor), self._accept)
                finally:
                    # Stopped between commits, never cancelled in the middle of one.
                    self._finished.set()
        except BaseException as exc:
            # What is not flushed stays leased, so it is pending again next run: nothing lost.
            # So this last flush is a saving, not a duty: it may not hold up a stop.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_LAST_FLUSH_WITHIN):
                    await self._flush()
            # A failed worker or frontier (Redis refusing writes, gone for too long) is raised
            # as itself, to be reported in a line; a failed output goes on to the caller's
            # handling of outputs, in its group.
            if isinstance(exc, ExceptionGroup) and first_of(exc, SinkError) is None:
                error = first_of(exc, CorocrawlError)
                if error is not None:
                    raise error from None
            raise
        await self._flush()
        # A clean stop gives back what was claimed but never fetched: pending again, not lost.
        # That is what the executor did not start, and what it was never handed at all.
        unstarted = [
            request.frontier_id
            for request in executor.not_started()
            if request.frontier_id is not None
        ]
        unstarted += [leased.id for leased in self._batch[self._next_in_batch :]]
        self._batch = []
        await self._frontier.release(unstarted)

    async def _cut_outputs_back(self) -> None:
        """On a resume, drop from each output what was written after the last commit: those
        requests are pending again, and their records are written once more."""
        committed = await self._frontier.output_lengths()
        for sink in self._outputs:
            if sink.file is not None and sink.file in committed:
                sink.cut_back(committed[sink.file])
        # Kept from the start, so a crawl killed before its first commit is cut back too.
        await self._frontier.complete([], outputs=self._output_lengths())

    def _executor_for(self, seeds: list[str]) -> Executor[ProcessedPage]:
        seed_hosts = {host_key(URL(seed)) for seed in seeds}
        config = self.config
        if config.fetch.credentials_origins is None:
            # Credentials given for a crawl go to its seeds' origins only: no link, redirect or
            # robots.txt elsewhere (nor the same host over http, when given for https) gets them.
            origins = tuple(sorted({str(URL(seed).origin()) for seed in seeds}))
            config = replace(config, fetch=replace(config.fetch, credentials_origins=origins))
        if self._workers == 1:
            return PageProcessor(
                config, seed_hosts=seed_hosts, handler=self._handler, stats=self.stats
            )
        return WorkerPool(
            CrawlJob(config, tuple(sorted(seed_hosts)), self._handler),
            self._workers,
            concurrency=self.config.fetch.limits.concurrency,
            stats=self.stats,
        )

    async def _add_seeds(self, seeds: Iterable[str]) -> list[str]:
        """Queue the seeds; return all of the crawl's, which make its scope."""
        config = self.config
        await self._frontier.add(
            seed_requests(
                seeds, sort_query=config.sort_query, stripped=config.traps.stripped_parameters
            )
        )
        # On a resume the seeds may not be given again: the scope comes from the state too.
        return await self._frontier.seeds()

    async def _requests(self, executor: Executor[ProcessedPage]) -> AsyncIterator[Request]:
        """Leased requests for the executor, until nothing is pending and nothing in flight."""
        batch_size = min(256, self.config.fetch.limits.concurrency)
        while not executor.stopping:
            # Cleared before claiming: a result that lands during the claim still wakes us.
            self._progress.clear()
            claimed = await self._frontier.claim(batch_size)
            self._batch = claimed
            for position, leased in enumerate(claimed):
                # What a stop leaves of the batch is given back (see run): not held until a
                # lease expires.
                self._next_in_batch = position + 1
                previous = leased.previous
                skip = leased.skip
                # A revisit was admitted by the guards when it was found: not counted again.
                guards = self._guards if previous is None else None
                if skip is None and guards is not None:
                    skip = guards.admit(leased.url)
                if skip is None and self._fetches_allowed is not None:
                    if self._fetches_allowed <= 0:
                        skip = SkipReason.MAX_PAGES
                        if guards is not None:
                            guards.not_fetched(leased.url)
                    self._fetches_allowed -= 1
                yield Request(
                    leased.url,
                    depth=leased.depth,
                    referrer=leased.referrer,
                    frontier_id=leased.id,
                    skip=skip,
                    host_depth=leased.host_depth,
                    sitemap=leased.sitemap,
                    max_bytes=SITEMAP_MAX_BYTES if leased.sitemap else None,
                    headers=() if previous is None else previous.conditional_headers(),
                    previous=previous,
                )
            if claimed:
                continue
            if executor.idle and not self._batch_records and not self._commit_lock.locked():
                counts = self._frontier.counts()
                written = sum(len(ids) for ids in self._written.values())
                # Finished when nothing is pending and every lease left is a request of ours
                # already recorded; a shared frontier also waits for other workers' leases.
                if counts.pending == 0 and counts.leased <= written:
                    # Likely the end: record what is written, then make sure no lease is left
                    # (on a shared frontier, one of ours may have been redone by another).
                    await self._flush()
                    counts = self._frontier.counts()
                    if counts.pending == 0 and counts.leased == 0:
                        return
            # Woken by our own commits; the timeout sees what other workers add or finish.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), _IDLE_POLL)

    async def _accept(self, page: ProcessedPage) -> None:
        request = page.result.request
        assert request is not None
        if self._warc is not None and page.robots:
            await self._warc.archive_exchanges(page.robots)
        if self._warc is not None and page.result.exchanges:
            # Before the record that points there is written: a kill between the two leaves
            # records in the WARC that the resumed crawl fetches and archives again.
            unchanged = unchanged_of(page.record, request.previous)
            page.record["warc"] = await self._warc.archive(page.result, unchanged=unchanged)
        assert request.frontier_id is not None
        if page.result.skip and request.skip is None:
            # Refused by robots.txt after taking a page of the budgets.
            if self._fetches_allowed is not None:
                self._fetches_allowed += 1
            if self._guards is not None and request.previous is None:
                self._guards.not_fetched(request.url)
        self._batch_links.extend(page.links)
        self._batch_items.extend(page.items)
        change = page.record.get("recrawl")
        if change is not None:
            self.recrawl.count(change)
        # Stamped here, by the crawl's clock, wherever the page was fetched.
        visit = None
        if page.visit is not None:
            now = round(self._clock(), 3)
            visit = page.visit._replace(fetched_at=now)
            page.record["fetched_at"] = now
        self._batch_records.append((page.record, request.frontier_id, page.outcome, visit))
        if len(self._batch_records) >= _COMMIT_PAGES:
            await self._commit()

    async def _commit(self) -> None:
        """Links of the batch into the frontier, then the batch's records into the outputs."""
        async with self._commit_lock:
            links, self._batch_links = self._batch_links, []
            records, self._batch_records = self._batch_records, []
            items, self._batch_items = self._batch_items, []
            if links:
                await self._frontier.add(links)
            for record, request_id, outcome, visit in records:
                if record.get("handler_error"):
                    self.stats.handler_errors += 1
                    self.stats.first_handler_error = (
                        self.stats.first_handler_error or record["handler_error"]
                    )
                self._output.write(record)
                self._written[outcome].append(request_id)
                if visit is not None:
                    self._visits[request_id] = visit
            if self._items is not None:
                for item in items:
                    self._items.write(item)
        self._progress.set()

    async def _flush_periodically(self) -> None:
        last_flush = time.monotonic()
        while not self._finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), _COMMIT_EVERY)
            if time.monotonic() - last_flush >= _FLUSH_EVERY:
                await self._flush()
                last_flush = time.monotonic()
            elif self._batch_records:
                await self._commit()

    async def _flush(self) -> None:
        """Commit, flush the records, then mark their requests complete: in that order."""
        await self._commit()
        written, visits = self._written, self._visits
        self._written, self._visits = {outcome: [] for outcome in Outcome}, {}
        for sink in self._outputs:
            sink.flush()
        if not any(written.values()):
            return
        try:
            await self._frontier.complete(
                written[Outcome.DONE],
                written[Outcome.FAILED],
                written[Outcome.SKIPPED],
                outputs=self._output_lengths(),
                visits=visits,
            )
        except BaseException:
            # Not marked done: kept for the next attempt, which commits them with the lengths
            # that cover their records (else a resume would keep those records and redo them).
            for outcome, ids in written.items():
                self._written[outcome][:0] = ids
            self._visits.update(visits)
            raise
        self._progress.set()  # completing frees room to claim (a shared frontier caps holdings)

    def _output_lengths(self) -> dict[str, int]:
        return {sink.file: sink.length for sink in self._outputs if sink.file is not None}


def unchanged_of(record: dict[str, Any], previous: Visit | None) -> Unchanged | None:
    """What the archive is told of a page a recrawl found unchanged (None for the others)."""
    change = record.get("recrawl")
    if change is None or previous is None or change["change"] != UNCHANGED:
        return None
    return Unchanged(change["by"], previous.payload)


def seed_requests(
    seeds: Iterable[str], *, sort_query: bool, stripped: tuple[str, ...] = ()
) -> list[Discovered]:
    """Seeds as frontier entries at depth 0, without the `stripped` query parameters (see
    Traps); ValueError names a seed that is no http(s) URL."""
    discovered = []
    for text in seeds:
        url = without_parameters(fetchable_url(text), stripped)
        canonical = canonical_url(url, sort_query=sort_query)
        discovered.append(Discovered(fingerprint(canonical), canonical, depth=0))
    return discovered
