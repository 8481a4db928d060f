"""Clients under test, each run alone in a fresh process: `python -m corocrawl._bench._contenders`.

Each fetches URL N times at a fixed concurrency and prints one JSON line: the wall time of the
fetching itself and the CPU time it took (interpreter start and imports excluded from both), how
many answers were 200 and how many not, and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import time
from collections.abc import Awaitable, Callable

import orjson

from corocrawl._loop import run

Contender = Callable[[str, int, int], Awaitable[tuple[int, int]]]


async def raw_aiohttp(url: str, requests: int, concurrency: int) -> tuple[int, int]:
    """The minimal hand-written loop: one session, a semaphore, no features."""
    import aiohttp

    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> bool:
            async with limit:
                try:
                    async with session.get(url) as response:
                        await response.read()
                        return response.status == 200
                except (TimeoutError, aiohttp.ClientError, OSError):
                    return False

        outcomes = await asyncio.gather(*(one() for _ in range(requests)))
    ok = sum(outcomes)
    return ok, requests - ok


async def corocrawl_engine(url: str, requests: int, concurrency: int) -> tuple[int, int]:
    """corocrawl's engine through its public API, every feature on and default limits."""
    import corocrawl

    config = corocrawl.FetchConfig(limits=corocrawl.Limits(concurrency=concurrency))
    ok = 0
    async with contextlib.aclosing(corocrawl.fetch([url] * requests, config)) as results:
        async for result in results:
            ok += result.status == 200
    return ok, requests - ok


CONTENDERS: dict[str, Contender] = {
    "aiohttp": raw_aiohttp,
    "corocrawl": corocrawl_engine,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contender", choices=sorted(CONTENDERS))
    parser.add_argument("url")
    parser.add_argument("requests", type=int)
    parser.add_argument("concurrency", type=int)
    args = parser.parse_args(argv)
    contender = CONTENDERS[args.contender]

    async def timed() -> tuple[float, float, int, int]:
        from corocrawl._system import ensure_open_files

        ensure_open_files(args.concurrency)
        start, cpu_start = time.perf_counter(), time.process_time()
        ok, failed = await contender(args.url, args.requests, args.concurrency)
        return time.perf_counter() - start, time.process_time() - cpu_start, ok, failed

    wall, cpu, ok, failed = run(timed())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {
        "wall": wall,
        "ok": ok,
        "failed": failed,
        "cpu": cpu,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }
    sys.stdout.write(orjson.dumps(report).decode() + "\n")


if __name__ == "__main__":
    main()
