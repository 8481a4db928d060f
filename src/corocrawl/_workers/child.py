"""One worker process: its own event loop and engine, fed by the coordinator over a socket.

The coordinator sends ("work", [requests]), ("end",) when no more will come, and ("stop",) to
drain. The worker answers ("out", payloads, in_flight, retries) in batches, ("error",
traceback) if it fails, and ("bye", unstarted) when it is done; after its last message it
waits for the coordinator to hang up. Each request's `seq` is the coordinator's ticket for
it. Signals are the coordinator's business: a worker ignores Ctrl-C and SIGTERM and exits
when told, or as soon as the coordinator's end of the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import traceback
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol, TypeVar

from .._config import FetchConfig
from .._crawl.pages import CrawlConfig, Handler, PageProcessor, ProcessedPage
from .._engine.engine import Engine
from .._loop import run
from .._models import ErrorInfo, FetchResult, Request
from .._stats import Stats
from ..frontier import Discovered
from .ipc import encode, receive

__all__ = ["CrawlJob", "Executor", "FetchJob", "Job", "share_of", "worker_main"]

P = TypeVar("P")
P_co = TypeVar("P_co", covariant=True)

_FLUSH_EVERY = 0.005
_FLUSH_PAYLOADS = 64
_FLUSH_LINKS = 5000  # a batch of link-heavy pages is sent before it grows large
_HANG_UP_TIMEOUT = 10.0


class Executor(Protocol[P_co]):
    """What runs requests to payloads: an Engine, a PageProcessor, or a pool of workers."""

    @property
    def stats(self) -> Stats: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def idle(self) -> bool: ...

    def stop(self) -> None: ...

    def not_started(self) -> list[Request]: ...

    async def run(
        self, requests: AsyncIterable[Request], emit: Callable[[P_co], Awaitable[None]]
    ) -> None: ...


class Job(Protocol[P]):
    """What a worker does with its requests, and how the coordinator reads what comes back.

    Payloads cross between processes as plain tuples (`pack`, then `unpack` with the original
    request): pickling dataclasses costs ten times as much, which a link-heavy crawl notices.
    The first item of a packed payload is the request's ticket.
    """

    def executor(self, concurrency: int) -> Executor[P]: ...

    def pack(self, payload: P) -> tuple[Any, ...]: ...

    def unpack(self, packed: tuple[Any, ...], request: Request) -> P: ...

    def result_of(self, payload: P) -> FetchResult: ...

    def failure(self, request: Request, error: ErrorInfo) -> P: ...

    def size_of(self, payload: P) -> int: ...


@dataclass(frozen=True, slots=True)
class FetchJob:
    """`corocrawl fetch`: each request gives a FetchResult."""

    config: FetchConfig

    def executor(self, concurrency: int) -> Engine:
        limits = replace(self.config.limits, concurrency=concurrency)
        return Engine(replace(self.config, limits=limits))

    def pack(self, payload: FetchResult) -> tuple[Any, ...]:
        return pack_result(payload)

    def unpack(self, packed: tuple[Any, ...], request: Request) -> FetchResult:
        return unpack_result(packed, request)

    def result_of(self, payload: FetchResult) -> FetchResult:
        return payload

    def failure(self, request: Request, error: ErrorInfo) -> FetchResult:
        return FetchResult(url=request.url, seq=request.seq, error=error, request=request)

    def size_of(self, payload: FetchResult) -> int:
        return 1


@dataclass(frozen=True, slots=True)
class CrawlJob:
    """`corocrawl crawl`: each request gives a ProcessedPage (record, links, items)."""

    config: CrawlConfig
    seed_hosts: tuple[str, ...]
    handler: Handler | None = None

    def executor(self, concurrency: int) -> PageProcessor:
        limits = replace(self.config.fetch.limits, concurrency=concurrency)
        config = replace(self.config, fetch=replace(self.config.fetch, limits=limits))
        return PageProcessor(config, seed_hosts=self.seed_hosts, handler=self.handler)

    def pack(self, payload: ProcessedPage) -> tuple[Any, ...]:
        # Discovered is a named tuple: sent as a plain tuple, it pickles without its class.
        links = [tuple(link) for link in payload.links]
        result = pack_result(payload.result)
        return (result[0], result, payload.record, payload.outcome, links, payload.items)

    def unpack(self, packed: tuple[Any, ...], request: Request) -> ProcessedPage:
        _ticket, result, record, outcome, links, items = packed
        discovered = [Discovered._make(link) for link in links]
        return ProcessedPage(unpack_result(result, request), record, outcome, discovered, items)

    def result_of(self, payload: ProcessedPage) -> FetchResult:
        return payload.result

    def failure(self, request: Request, error: ErrorInfo) -> ProcessedPage:
        result = FetchResult(url=request.url, seq=request.seq, error=error, request=request)
        return ProcessedPage.unfetched(result)

    def size_of(self, payload: ProcessedPage) -> int:
        return 1 + len(payload.links)


_RESULT_FIELDS = tuple(
    field.name for field in fields(FetchResult) if field.name not in ("seq", "error", "request")
)


def pack_result(result: FetchResult) -> tuple[Any, ...]:
    """A FetchResult as a tuple: its ticket (seq) first; its request stays behind."""
    error = None if result.error is None else (result.error.type, result.error.message)
    return (result.seq, error, *[getattr(result, name) for name in _RESULT_FIELDS])


def unpack_result(packed: tuple[Any, ...], request: Request) -> FetchResult:
    _ticket, error, *values = packed
    result = FetchResult(**dict(zip(_RESULT_FIELDS, values, strict=True)))
    result.seq, result.request = request.seq, request
    result.error = None if error is None else ErrorInfo(*error)
    return result


def share_of(concurrency: int, workers: int) -> int:
    """Each worker's part of the total concurrency."""
    return max(1, math.ceil(concurrency / workers))


def worker_main(address: str, slot: int, job: Job[Any], concurrency: int) -> None:
    """The worker process's entry point (spawned by the coordinator's WorkerPool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})  # see _pool
    logging.basicConfig(format=f"corocrawl worker {slot}: %(message)s", level=logging.WARNING)
    try:
        run(_serve(address, slot, job, concurrency))
    except BaseException:
        sys.exit(1)  # already reported to the coordinator, with the traceback


async def _serve(address: str, slot: int, job: Job[Any], concurrency: int) -> None:
    reader, writer = await asyncio.open_unix_connection(address)
    writer.write(encode(("hello", slot, os.getpid())))
    try:
        unstarted = await _Worker(job.executor(concurrency), job, reader, writer).run()
    except BaseException:
        with contextlib.suppress(Exception):
            await _say_last(("error", traceback.format_exc()), reader, writer)
        raise
    else:
        await _say_last(("bye", unstarted), reader, writer)
    finally:
        writer.close()


async def _say_last(
    message: tuple[Any, ...], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Send the last message, then wait for the coordinator to hang up.

    Closing a Unix socket that still holds unread messages (a "stop" that came late, work a
    failed worker never read) resets the connection, and a reset makes the coordinator's
    reader drop what it had not read yet: the last results, the goodbye, the traceback.
    """
    writer.write(encode(message))
    writer.write_eof()
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(_HANG_UP_TIMEOUT):
            await writer.drain()
            while await reader.read(1 << 16):
                pass


class _Worker:
    def __init__(
        self,
        executor: Executor[Any],
        job: Job[Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._executor = executor
        self._job = job
        self._reader = reader
        self._writer = writer
        self._inbox: asyncio.Queue[Request | None] = asyncio.Queue()
        self._outbox: list[Any] = []
        self._outbox_size = 0
        self._retries_sent = 0

    async def run(self) -> list[int]:
        """Run the executor over the coordinator's requests; the tickets it never started."""
        async with asyncio.TaskGroup() as tasks:
            listener = tasks.create_task(self._listen())
            flusher = tasks.create_task(self._flush_periodically())
            await self._executor.run(self._requests(), self._emit)
            listener.cancel()
            flusher.cancel()
        await self._flush()
        unstarted = [request.seq for request in self._executor.not_started()]
        while not self._inbox.empty():
            request = self._inbox.get_nowait()
            if request is not None:
                unstarted.append(request.seq)
        return unstarted

    async def _listen(self) -> None:
        try:
            while True:
                message = await receive(self._reader)
                if message[0] == "work":
                    for request in message[1]:
                        self._inbox.put_nowait(request)
                elif message[0] == "end":
                    self._inbox.put_nowait(None)
                elif message[0] == "stop":
                    self._executor.stop()
                    self._inbox.put_nowait(None)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The coordinator is gone: nobody is left to take results, and whatever it leased
            # to us is pending again when its frontier reopens.
            os._exit(0)

    async def _requests(self) -> AsyncIterator[Request]:
        while (request := await self._inbox.get()) is not None:
            yield request

    async def _emit(self, payload: Any) -> None:
        self._outbox.append(self._job.pack(payload))
        self._outbox_size += self._job.size_of(payload)
        if len(self._outbox) >= _FLUSH_PAYLOADS or self._outbox_size >= _FLUSH_LINKS:
            await self._flush()

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(_FLUSH_EVERY)
            if self._outbox:
                await self._flush()

    async def _flush(self) -> None:
        stats = self._executor.stats
        payloads, self._outbox, self._outbox_size = self._outbox, [], 0
        retries, self._retries_sent = stats.retries - self._retries_sent, stats.retries
        self._writer.write(encode(("out", payloads, stats.in_flight, retries)))
        await self._writer.drain()  # a slow coordinator slows the fetching, not memory
