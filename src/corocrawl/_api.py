"""The fetch API: results as they complete, or all of them in input order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable

from ._config import FetchConfig
from ._engine.engine import Engine
from ._loop import run
from ._models import FetchResult, Request
from ._stats import Stats
from ._workers.jobs import Executor, FetchJob
from ._workers.pool import WorkerPool

__all__ = ["fetch", "fetch_all"]

_HANDOVER_CAPACITY = 64

URLSource = Iterable[str | Request] | AsyncIterable[str | Request]


async def fetch(
    urls: URLSource,
    config: FetchConfig | None = None,
    *,
    stats: Stats | None = None,
    workers: int = 1,
) -> AsyncGenerator[FetchResult, None]:
    """Fetch every URL concurrently and yield one result per URL as each completes.

        async with contextlib.aclosing(corocrawl.fetch(urls)) as results:
            async for result in results:
                print(result.url, result.status, result.error)

    `urls` may be any iterable or async iterable of URL strings (or Requests); it is read
    lazily, only as far ahead as the concurrency needs. A URL that cannot be fetched gives a
    result with its error, never an exception. Leaving the loop early stops the fetching.

    With `workers` above 1, the fetching runs in that many processes, each owning the hosts
    that hash to it and a share of the concurrency; results still come here, one per URL, and
    a worker that dies is replaced without losing its URLs. (As with any multiprocessing, a
    script that uses workers must guard its entry point with `if __name__ == "__main__":`.)
    """
    executor = fetch_executor(config or FetchConfig(), workers, stats=stats)
    results = _Handover(capacity=_HANDOVER_CAPACITY)
    runner = asyncio.create_task(executor.run(_as_requests(urls), results.put))
    runner.add_done_callback(lambda _: results.wake_reader())
    try:
        while True:
            await results.readable()
            for result in results.take_all():
                yield result
            if runner.done() and results.empty():
                runner.result()  # re-raises what ended the engine, if anything did
                return
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


def fetch_all(
    urls: URLSource, config: FetchConfig | None = None, *, workers: int = 1
) -> list[FetchResult]:
    """Fetch every URL and return the results in input order (blocking).

        results = corocrawl.fetch_all(["http://127.0.0.1:8080/"] * 10)

    Call it from plain code; inside a running event loop use `fetch()`.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("fetch_all() blocks: inside an event loop, use 'async for' on fetch()")

    async def collect() -> list[FetchResult]:
        return [result async for result in fetch(urls, config, workers=workers)]

    return sorted(run(collect()), key=lambda result: result.position)


async def _as_requests(urls: URLSource) -> AsyncIterator[Request]:
    position = 0
    if isinstance(urls, AsyncIterable):
        async for item in urls:
            yield item if isinstance(item, Request) else Request(item, position)
            position += 1
    else:
        for item in urls:
            yield item if isinstance(item, Request) else Request(item, position)
            position += 1


class _Handover:
    """Results from the engine's tasks to the consumer, handed over in batches (one wake-up of
    the consumer per batch, not per result). At most `capacity` wait; further producers queue
    up and are woken one per freed slot, never all at once."""

    def __init__(self, capacity: int) -> None:
        self._queue: asyncio.Queue[FetchResult] = asyncio.Queue(maxsize=capacity)
        self._readable = asyncio.Event()

    async def put(self, item: FetchResult) -> None:
        await self._queue.put(item)
        self._readable.set()

    async def readable(self) -> None:
        await self._readable.wait()

    def wake_reader(self) -> None:
        self._readable.set()

    def empty(self) -> bool:
        return self._queue.empty()

    def take_all(self) -> list[FetchResult]:
        self._readable.clear()
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items


def fetch_executor(
    config: FetchConfig, workers: int = 1, *, stats: Stats | None = None
) -> Executor[FetchResult]:
    """An Engine in this process for one worker, else a pool of `workers` processes."""
    if workers == 1:
        return Engine(config, stats=stats)
    return WorkerPool(FetchJob(config), workers, concurrency=config.limits.concurrency, stats=stats)
