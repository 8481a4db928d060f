"""`--workers N`: N processes, each with its own event loop and engine, fed by this one.

Requests are routed by a stable hash of their host, so a host's limits, politeness delays,
robots.txt and connections live in exactly one worker. This process keeps every request it
has handed out (a bounded window per worker) until the result comes back: when a worker dies,
a replacement takes the same hosts and gets those requests again, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections import Counter
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

from yarl import URL

from .._exceptions import ConfigError, WorkerError, first_of
from .._models import ErrorInfo, Request
from .._stats import Stats
from .._urls import host_key, partition
from .child import worker_main
from .ipc import encode, receive
from .jobs import Job, share_of
from .spawn import UNGUARDED_MAIN, UNGUARDED_MAIN_HINT, describe_exit, start_process

__all__ = ["MAX_DEATHS_IN_A_ROW", "MAX_DEATHS_PER_REQUEST", "WorkerPool", "require_workers"]

logger = logging.getLogger("corocrawl")

P = TypeVar("P")

# A worker that dies this many times in a row, with no result in between, ends the run loudly
# (a bug, or a handler that cannot load): before any request is blamed for it.
MAX_DEATHS_IN_A_ROW = 3
# A request held by a worker at this many of its deaths is recorded as failed, so that one
# poisonous URL cannot kill workers for ever. Only deaths of a worker that had connected count.
MAX_DEATHS_PER_REQUEST = 4
_SEND_BATCH = 128
_BALANCE_AFTER = 1000  # requests routed before saying that some workers got none
_SEND_EVERY = 0.005
_START_TIMEOUT = 60.0
_REAP_TIMEOUT = 5.0


@dataclass(slots=True)
class _Ticket:
    request: Request
    deaths: int = 0


class _Slot:
    """One worker's place: its hosts, and the requests it holds, outlive its process."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: BaseProcess | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None
        self.connected = None
        self.outstanding: dict[int, _Ticket] = {}
        self.unsent: list[tuple[int, Request]] = []  # (ticket, request)
        self.connected_once = False  # the current process said hello
        self.input_ended = False
        self.in_flight = 0
        self.deaths_in_a_row = 0
        self.last_traceback = ""
        self.room = asyncio.Event()

    def send(self, message: tuple[Any, ...]) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(encode(message))

    def send_work(self) -> None:
        if self.unsent and self.writer is not None:
            self.send(("work", self.unsent))
            self.unsent = []


class WorkerPool(Generic[P]):
    """Runs a job's requests in `workers` processes; used like an Engine.

        pool = WorkerPool(FetchJob(config), workers=4, concurrency=400)
        await pool.run(requests, emit)   # emit(payload) is awaited once per request

    Every request gives exactly one payload, even across worker deaths. A request whose
    worker dies MAX_DEATHS_PER_REQUEST times gives a failure payload (error WorkerError).
    """

    def __init__(
        self, job: Job[P], workers: int, *, concurrency: int, stats: Stats | None = None
    ) -> None:
        require_workers(workers)
        self.stats = stats if stats is not None else Stats()
        self._job = job
        self._share = share_of(concurrency, workers)
        self._window = 2 * self._share + 256
        self._slots = [_Slot(index) for index in range(workers)]
        self._stopping = False
        self._not_started: list[Request] = []
        self._next_ticket = 0
        self._address = ""
        self._emit: Callable[[P], Awaitable[None]] | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def idle(self) -> bool:
        return not any(slot.outstanding for slot in self._slots)

    def worker_pids(self) -> list[int | None]:
        """The process id of each worker now (None while one is being replaced)."""
        return [None if slot.process is None else slot.process.pid for slot in self._slots]

    def stop(self) -> None:
        """Take no more requests; the workers finish what they have started and give back
        the rest (see `not_started()`)."""
        self._stopping = True
        for slot in self._slots:
            for ticket_id, _request in slot.unsent:
                ticket = slot.outstanding.pop(ticket_id, None)
                if ticket is not None:
                    self._not_started.append(ticket.request)
            slot.unsent = []
            slot.send(("stop",))
            slot.room.set()

    def queued_by_host(self, top: int) -> list[tuple[str, int]]:
        """The `top` hosts with the most requests handed to the workers and not yet done
        (waiting there, or in flight), and how many."""
        held = Counter(
            host_key(URL(ticket.request.url))
            for slot in self._slots
            for ticket in slot.outstanding.values()
        )
        return held.most_common(top)

    def not_started(self) -> list[Request]:
        """After a stop: the requests given back unstarted; after `run()` was cancelled, those
        its workers held too (they were killed)."""
        held = [ticket.request for slot in self._slots for ticket in slot.outstanding.values()]
        return self._not_started + held

    async def run(
        self, requests: AsyncIterable[Request], emit: Callable[[P], Awaitable[None]]
    ) -> None:
        self._emit = emit
        with tempfile.TemporaryDirectory(prefix="corocrawl-") as directory:
            self._address = os.path.join(directory, "workers.sock")
            server = await asyncio.start_unix_server(self._accept, self._address)
            try:
                async with asyncio.TaskGroup() as tasks:
                    supervisors = [tasks.create_task(self._supervise(slot)) for slot in self._slots]
                    router = tasks.create_task(self._route(requests))
                    sender = tasks.create_task(self._send_periodically())
                    await asyncio.gather(*supervisors)
                    router.cancel()
                    sender.cancel()
            except ExceptionGroup as group:
                worker_error = first_of(group, WorkerError)
                if worker_error is None:
                    raise
                raise worker_error from None
            finally:
                server.close()
                await self._kill_all()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _hello, index, pid = await receive(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        slot = self._slots[index]
        connected = slot.connected
        if connected is None or connected.done() or slot.process is None or slot.process.pid != pid:
            writer.close()  # a late arrival from a worker already given up on
            return
        connected.set_result((reader, writer))

    async def _route(self, requests: AsyncIterable[Request]) -> None:
        parts = len(self._slots)
        used: set[int] = set()
        routed = 0
        try:
            async for request in requests:
                number = partition(request.url, parts)
                slot = self._slots[number]
                if routed < _BALANCE_AFTER:
                    used.add(number)
                    routed += 1
                    if routed == _BALANCE_AFTER:
                        _warn_if_unbalanced(used, parts, routed)
                while len(slot.outstanding) >= self._window and not self._stopping:
                    slot.room.clear()
                    await slot.room.wait()
                if self._stopping:
                    self._not_started.append(request)
                    break
                self._next_ticket += 1
                slot.outstanding[self._next_ticket] = _Ticket(request)
                slot.unsent.append((self._next_ticket, request))
                if len(slot.unsent) >= _SEND_BATCH:
                    slot.send_work()
        finally:
            for slot in self._slots:
                slot.send_work()
                slot.input_ended = True
                slot.send(("end",))
        if routed < _BALANCE_AFTER:
            _warn_if_unbalanced(used, parts, routed)

    async def _send_periodically(self) -> None:
        while True:
            await asyncio.sleep(_SEND_EVERY)
            for slot in self._slots:
                slot.send_work()

    async def _supervise(self, slot: _Slot) -> None:
        """Keep a worker running in `slot` until it has said goodbye."""
        while True:
            slot.connected_once = False
            finished = await self._start(slot) and await self._listen(slot)
            exit_code = await self._reap(slot)
            if finished:
                return
            if exit_code == UNGUARDED_MAIN and not slot.connected_once:
                raise WorkerError(UNGUARDED_MAIN_HINT, worker_id=slot.index)
            how = describe_exit(exit_code) if slot.connected_once else "it never connected"
            if self._stopping:
                traceback_text = f"\n{slot.last_traceback}" if slot.last_traceback else ""
                logger.warning(
                    "worker %d died while stopping (%s); its %d requests are given back%s",
                    slot.index,
                    how,
                    len(slot.outstanding),
                    traceback_text,
                )
                self._not_started.extend(ticket.request for ticket in slot.outstanding.values())
                slot.outstanding.clear()
                slot.unsent = []
                return
            slot.deaths_in_a_row += 1
            self.stats.worker_restarts += 1
            if slot.deaths_in_a_row >= MAX_DEATHS_IN_A_ROW:
                raise WorkerError(
                    f"worker {slot.index} died {slot.deaths_in_a_row} times in a row without "
                    f"finishing a request (last: {how}); giving up",
                    worker_id=slot.index,
                    remote_traceback=slot.last_traceback,
                )
            traceback_text = f"\n{slot.last_traceback}" if slot.last_traceback else ""
            logger.warning(
                "worker %d died (%s); starting a replacement for its %d requests%s",
                slot.index,
                how,
                len(slot.outstanding),
                traceback_text,
            )
            slot.last_traceback = ""
            if slot.connected_once:
                await self._fail_repeated_victims(slot, how)
            if len(slot.outstanding) < self._window:
                slot.room.set()

    async def _start(self, slot: _Slot) -> bool:
        """Start the slot's process and hand it the slot's requests; False if it died first."""
        loop = asyncio.get_running_loop()
        slot.connected = loop.create_future()
        process = start_process(
            worker_main,
            (self._address, slot.index, self._job, self._share, logger.getEffectiveLevel()),
            name=f"corocrawl-worker-{slot.index}",
            daemon=True,
        )
        slot.process = process
        exited = _exit_future(process)
        try:
            waiting: set[asyncio.Future[Any]] = {slot.connected, exited}
            done, _ = await asyncio.wait(
                waiting,
                timeout=_START_TIMEOUT,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            exited.cancel()
        if slot.connected not in done:
            slot.connected.cancel()
            return False
        slot.reader, slot.writer = slot.connected.result()
        slot.connected_once = True
        logger.info("worker %d started (pid %s)", slot.index, process.pid)
        slot.unsent = []  # all of them are outstanding, and sent just below
        requests = [(id_, ticket.request) for id_, ticket in slot.outstanding.items()]
        for start in range(0, len(requests), _SEND_BATCH):
            slot.send(("work", requests[start : start + _SEND_BATCH]))
        if slot.input_ended:
            slot.send(("end",))
        if self._stopping:
            slot.send(("stop",))
        return True

    async def _listen(self, slot: _Slot) -> bool:
        """Take the worker's messages until it says goodbye (True) or goes away (False)."""
        assert slot.reader is not None
        try:
            while True:
                message = await receive(slot.reader)
                if message[0] == "out":
                    await self._take(slot, *message[1:])
                elif message[0] == "bye":
                    for ticket_id in message[1]:
                        self._not_started.append(slot.outstanding.pop(ticket_id).request)
                    # Nothing should be left; if anything is, it is given back, never dropped.
                    self._not_started.extend(ticket.request for ticket in slot.outstanding.values())
                    slot.outstanding.clear()
                    slot.room.set()
                    return True
                elif message[0] == "error":
                    slot.last_traceback = message[1]
                elif message[0] == "fatal":
                    raise message[1]  # an output of the machine's failed: the run ends
        except (asyncio.IncompleteReadError, ConnectionError):
            return False
        finally:
            if slot.writer is not None:
                slot.writer.close()
            slot.reader = slot.writer = None
            slot.in_flight = 0
            self.stats.in_flight = sum(other.in_flight for other in self._slots)

    async def _take(
        self,
        slot: _Slot,
        payloads: list[tuple[Any, ...]],
        in_flight: int,
        retries: int,
        proxy_failures: dict[str, int],
    ) -> None:
        slot.in_flight = in_flight
        self.stats.in_flight = sum(other.in_flight for other in self._slots)
        self.stats.retries += retries
        self.stats.proxy_failures.update(proxy_failures)
        for ticket_id, packed in payloads:
            ticket = slot.outstanding.pop(ticket_id)
            await self._deliver(self._job.unpack(packed, ticket.request))
        slot.deaths_in_a_row = 0
        if len(slot.outstanding) < self._window:
            slot.room.set()

    async def _deliver(self, payload: P) -> None:
        self.stats.record(self._job.result_of(payload))
        assert self._emit is not None
        await self._emit(payload)

    async def _fail_repeated_victims(self, slot: _Slot, how: str) -> None:
        """Count a death against every request the worker held; one held at
        MAX_DEATHS_PER_REQUEST deaths is recorded as failed instead of tried again."""
        for ticket_id, ticket in list(slot.outstanding.items()):
            if ticket_id not in slot.outstanding:
                continue  # given back by a stop() meanwhile
            ticket.deaths += 1
            if ticket.deaths >= MAX_DEATHS_PER_REQUEST:
                del slot.outstanding[ticket_id]
                slot.unsent = [work for work in slot.unsent if work[0] != ticket_id]
                error = ErrorInfo(
                    "WorkerError",
                    f"the worker holding this request died {ticket.deaths} times (last: {how})",
                )
                await self._deliver(self._job.failure(ticket.request, error))

    async def _reap(self, slot: _Slot) -> int:
        process = slot.process
        assert process is not None  # _start always leaves one
        await asyncio.to_thread(process.join, _REAP_TIMEOUT)
        if process.exitcode is None:
            process.kill()
            await asyncio.to_thread(process.join)
        exit_code = process.exitcode
        assert exit_code is not None
        slot.process = None  # only now: a cancelled reap leaves it for _kill_all
        process.close()
        return exit_code

    async def _kill_all(self) -> None:
        for slot in self._slots:
            if slot.process is not None and slot.process.exitcode is None:
                slot.process.kill()
        for slot in self._slots:
            if slot.process is not None:
                await asyncio.to_thread(slot.process.join)
                slot.process = None


def _exit_future(process: BaseProcess) -> asyncio.Future[None]:
    """A future that completes when `process` exits (its sentinel becomes readable)."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    sentinel = process.sentinel

    def on_exit() -> None:
        loop.remove_reader(sentinel)
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(sentinel, on_exit)
    exited.add_done_callback(lambda _: loop.remove_reader(sentinel))
    return exited


def _warn_if_unbalanced(used: set[int], workers: int, routed: int) -> None:
    """Once, when the first requests went to fewer processes than there are: the rest idle."""
    if routed and len(used) < workers:
        logger.warning(
            "%d of %d worker processes got work from the first %d URLs: work is split by "
            "host, and these URLs have too few hosts to keep them all busy (--workers %d "
            "would do as well)",
            len(used), workers, routed, len(used),
        )  # fmt: skip


def require_workers(workers: int) -> None:
    """ConfigError unless `workers` is a number of processes (1: this one only)."""
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
