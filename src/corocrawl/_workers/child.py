"""One worker process: its own event loop and engine, fed by the coordinator over a socket.

The coordinator sends ("work", [(ticket, request), ...]), ("end",) when no more will come, and
("stop",) to drain. The worker answers ("out", [(ticket, packed payload), ...], in_flight,
retries, {proxy: failed attempts}) in batches, ("error", traceback) if it fails, ("fatal",
SinkError) if what failed is the machine's, not its own (a full disk: a replacement would fail
the same way), and ("bye", unstarted tickets) when it is done; after its last message it waits
for the coordinator to hang up. Signals are the coordinator's business: a worker ignores
Ctrl-C and SIGTERM (see spawn) and exits when told, or as soon as the coordinator's end of the
socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import sys
import traceback
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from .._exceptions import SinkError, first_of
from .._loop import run
from .._models import Request
from .ipc import encode, receive
from .jobs import Executor, Job

__all__ = ["worker_main"]

_FLUSH_EVERY = 0.005
_FLUSH_PAYLOADS = 64
_FLUSH_LINKS = 5000  # a batch of link-heavy pages is sent before it grows large
_HANG_UP_TIMEOUT = 10.0


def worker_main(
    address: str, slot: int, job: Job[Any], concurrency: int, log_level: int = logging.WARNING
) -> None:
    """The worker process's entry point (started by the coordinator's WorkerPool); it logs
    what its coordinator would (`log_level`)."""
    logging.basicConfig(format=f"corocrawl worker {slot}: %(message)s", level=logging.WARNING)
    logging.getLogger("corocrawl").setLevel(log_level)
    try:
        run(_serve(address, slot, job, concurrency))
    except BaseException:
        sys.exit(1)  # already reported to the coordinator, with the traceback


async def _serve(address: str, slot: int, job: Job[Any], concurrency: int) -> None:
    reader, writer = await asyncio.open_unix_connection(address)
    writer.write(encode(("hello", slot, os.getpid())))
    try:
        unstarted = await _Worker(job.executor(concurrency), job, reader, writer).run()
    except BaseException as exc:
        failed_output = _failed_output(exc)
        last = (
            ("error", traceback.format_exc()) if failed_output is None else ("fatal", failed_output)
        )
        with contextlib.suppress(Exception):
            await _say_last(last, reader, writer)
        raise
    else:
        await _say_last(("bye", unstarted), reader, writer)
    finally:
        writer.close()


def _failed_output(exc: BaseException) -> SinkError | None:
    if isinstance(exc, SinkError):
        return exc
    return first_of(exc, SinkError) if isinstance(exc, BaseExceptionGroup) else None


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
        self._inbox: asyncio.Queue[tuple[int, Request] | None] = asyncio.Queue()
        # Each request's ticket, by the identity of the request object, which the executor
        # hands back on its result.
        self._tickets: dict[int, int] = {}
        self._outbox: list[Any] = []
        self._outbox_size = 0
        self._retries_sent = 0
        self._proxy_failures_sent: Counter[str] = Counter()

    async def run(self) -> list[int]:
        """Run the executor over the coordinator's requests; the tickets it never started."""
        async with asyncio.TaskGroup() as tasks:
            listener = tasks.create_task(self._listen())
            flusher = tasks.create_task(self._flush_periodically())
            await self._executor.run(self._requests(), self._emit)
            listener.cancel()
            flusher.cancel()
        await self._flush()
        unstarted = [self._tickets.pop(id(request)) for request in self._executor.not_started()]
        while not self._inbox.empty():
            work = self._inbox.get_nowait()
            if work is not None:
                unstarted.append(work[0])
        return unstarted

    async def _listen(self) -> None:
        try:
            while True:
                message = await receive(self._reader)
                if message[0] == "work":
                    for work in message[1]:
                        self._inbox.put_nowait(work)
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
        while (work := await self._inbox.get()) is not None:
            ticket, request = work
            if id(request) in self._tickets:
                # One Request object under two tickets (a caller that passed it twice, which a
                # pickled batch sends as one object): each ticket needs its own.
                request = copy.copy(request)
            self._tickets[id(request)] = ticket
            yield request

    async def _emit(self, payload: Any) -> None:
        request = self._job.result_of(payload).request
        self._outbox.append((self._tickets.pop(id(request)), self._job.pack(payload)))
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
        proxy_failures = dict(stats.proxy_failures - self._proxy_failures_sent)
        if proxy_failures:
            self._proxy_failures_sent = stats.proxy_failures.copy()
        self._writer.write(encode(("out", payloads, stats.in_flight, retries, proxy_failures)))
        await self._writer.drain()  # a slow coordinator slows the fetching, not memory
