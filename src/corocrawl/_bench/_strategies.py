"""The tutorial's strategies, each run alone in a fresh process:

    python -m corocrawl._bench._strategies STRATEGY URL REQUESTS

Each fetches URL REQUESTS times its own way and prints one JSON line: the wall time (interpreter
start excluded, pool start-up included, as the tutorial timed it), or the error it raised.
These are written the way the tutorial wrote them, traps included: they are the lesson, not
examples to follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

Strategy = Callable[[str, int], None]
_CPUS = os.cpu_count() or 1


def _blocking_get(url: str) -> int:
    import requests

    return requests.get(url, timeout=600).status_code


def sequential(url: str, requests: int) -> None:
    """A plain loop of blocking `requests.get`: N x L."""
    for _ in range(requests):
        _blocking_get(url)


def asyncio_blocking(url: str, requests: int) -> None:
    """The trap: blocking `requests.get` inside `async def`. No await point, so no overlap."""

    async def get() -> int:
        return _blocking_get(url)

    async def main() -> None:
        await asyncio.wait([asyncio.ensure_future(get()) for _ in range(requests)])

    asyncio.run(main())


def asyncio_await_blocking(url: str, requests: int) -> None:
    """The same with `await` on the blocking call: a Response cannot be awaited (TypeError)."""
    import requests as requests_library

    async def get() -> Any:
        # The trap itself, kept on purpose: it raises TypeError.
        return await requests_library.get(url, timeout=600)  # type: ignore[misc]  # noqa: ASYNC210

    async def main() -> None:
        for task in [asyncio.ensure_future(get()) for _ in range(requests)]:
            await task

    asyncio.run(main())


def asyncio_wrapped_blocking(url: str, requests: int) -> None:
    """The blocking call wrapped in another `async def` and awaited: still one at a time."""

    async def get(address: str) -> int:
        return _blocking_get(address)

    async def request() -> int:
        return await get(url)

    async def main() -> None:
        await asyncio.wait([asyncio.ensure_future(request()) for _ in range(requests)])

    asyncio.run(main())


def _process_pool(processes: int) -> Strategy:
    def strategy(url: str, requests: int) -> None:
        with multiprocessing.Pool(processes) as pool:
            pool.map(_blocking_get, [url] * requests)

    strategy.__doc__ = f"multiprocessing.Pool({processes}) mapping blocking requests.get."
    return strategy


def asyncio_aiohttp(url: str, requests: int) -> None:
    """asyncio + one aiohttp ClientSession, every request a task: about L, not N x L."""
    import aiohttp

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def get() -> str:
                async with session.get(url) as response:
                    return await response.text()

            await asyncio.gather(*(get() for _ in range(requests)))

    asyncio.run(main())


async def _aiohttp_get(url: str) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.text()


def aiomultiprocess_pool(url: str, requests: int) -> None:
    """Processes x coroutines with the aiomultiprocess library, as the tutorial did."""
    import aiomultiprocess

    async def main() -> None:
        async with aiomultiprocess.Pool() as pool:
            await pool.map(_aiohttp_get, [url] * requests)

    asyncio.run(main())


def aiomultiprocess_tuned(url: str, requests: int) -> None:
    """aiomultiprocess with enough coroutines per process for the whole batch at once (its
    default, 16 per process, is sized for many cores: on 2 it runs 32 at a time)."""
    import aiomultiprocess

    processes = os.cpu_count() or 1

    async def main() -> None:
        per_process = max(16, -(-requests // processes))
        async with aiomultiprocess.Pool(processes, childconcurrency=per_process) as pool:
            await pool.map(_aiohttp_get, [url] * requests)

    asyncio.run(main())


def corocrawl_fetch(url: str, requests: int) -> None:
    """corocrawl's engine, one process, every request in flight at once."""
    _corocrawl_fetch_all(url, requests, workers=1)


def corocrawl_workers(url: str, requests: int) -> None:
    """corocrawl with one worker process per core. Work is split by host, and the seed has one
    host, so one worker owns it all: each gets the whole batch's concurrency to show that."""
    _corocrawl_fetch_all(url, requests, workers=_CPUS)


def _corocrawl_fetch_all(url: str, requests: int, *, workers: int) -> None:
    import corocrawl

    limits = corocrawl.Limits(concurrency=requests * workers)
    timeouts = corocrawl.Timeouts(total=600)
    config = corocrawl.FetchConfig(limits=limits, timeouts=timeouts)
    results = corocrawl.fetch_all([url] * requests, config, workers=workers)
    failed = [result for result in results if not result.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} fetches failed, e.g. {failed[0].error}")


STRATEGIES: dict[str, Strategy] = {
    "sequential": sequential,
    "asyncio-blocking": asyncio_blocking,
    "asyncio-await-blocking": asyncio_await_blocking,
    "asyncio-wrapped-blocking": asyncio_wrapped_blocking,
    "pool-cpus": _process_pool(_CPUS),
    "pool-8": _process_pool(8),
    "asyncio-aiohttp": asyncio_aiohttp,
    "aiomultiprocess": aiomultiprocess_pool,
    "aiomultiprocess-tuned": aiomultiprocess_tuned,
    "corocrawl": corocrawl_fetch,
    "corocrawl-workers": corocrawl_workers,
}


def main(argv: list[str] | None = None) -> None:
    """`python -m corocrawl._bench._strategies STRATEGY URL REQUESTS`, as the seed suite runs
    it (see _seed): one JSON line on stdout."""
    name, url, requests = sys.argv[1:] if argv is None else argv
    start = time.perf_counter()
    report: dict[str, object]
    try:
        STRATEGIES[name](url, int(requests))
    except ImportError as exc:
        report = {"unavailable": exc.name or str(exc)}
    except Exception as exc:  # the strategy's own failure is its result (the await trap)
        report = {"error": f"{type(exc).__name__}: {exc}"}
    else:
        report = {"wall": time.perf_counter() - start}
    sys.stdout.write(orjson.dumps(report).decode() + "\n")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
