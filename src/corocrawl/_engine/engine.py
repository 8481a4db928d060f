"""The one-process engine: requests in, one FetchResult per request out, on one event loop.

A feeder moves requests from the input into the scheduler while it has room (backpressure:
the input is never read further ahead than that); the dispatcher starts every attempt the
scheduler allows and sleeps until a slot frees or a timer is due; each attempt is its own task
and ends either in a retry (back to the scheduler, with its delay) or in a result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from yarl import URL

from .._config import FetchConfig
from .._exceptions import (
    BlockedURL,
    FetchError,
    NotArchived,
    ProxyError,
    ResponseTooLarge,
    RobotsUnavailable,
)
from .._models import ErrorInfo, FetchResult, Request, SkipReason
from .._stats import Stats
from .._system import ensure_open_files
from .._urls import fetchable_url, host_key
from .addresses import address_of
from .bodies import BodyStore
from .retry import decide_retry
from .scheduler import Scheduler
from .throttle import Throttle
from .transport import Response, Transport
from .transports import open_transport

__all__ = ["FETCH", "Engine", "Gate", "GateVerdict"]

logger = logging.getLogger("corocrawl")

# Lookups at once (with --per-ip): the resolver's threads are shared with the transport's own
# lookups, and a lookup's timeout should measure the resolver, not a queue in front of it.
_LOOKUPS_AT_ONCE = 8

Emit = Callable[[FetchResult], Awaitable[None]]
# A gate decides how often a request is deferred; this only guards against one that never does.
MAX_DEFERRALS = 20


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """A gate's answer about one request, before its first attempt.

    `skip`: record it without fetching, for that reason (and `error`, if one is the reason).
    `retry_in`: the gate cannot answer yet (robots.txt failing); ask again in that many
    seconds. `host_delay`: from now on, space this host's requests by that much (a robots.txt
    Crawl-delay). All None: fetch it. Nothing is sent for a skip or a deferral, so neither
    costs the host its politeness delay.
    """

    skip: SkipReason | None = None
    retry_in: float | None = None
    host_delay: float | None = None
    error: ErrorInfo | None = None


FETCH = GateVerdict()


class Gate(Protocol):
    """What is asked about each request before it is fetched (a crawl's robots.txt)."""

    def known(self, request: Request, url: URL) -> GateVerdict | None:
        """The verdict if it is known without waiting (None if not): asked as the request
        comes in, so that a request known to be skipped never waits for its host's turn."""
        ...

    async def ask(self, request: Request, url: URL) -> GateVerdict:
        """The verdict, waiting for what it needs (robots.txt): asked at the host's turn."""
        ...


@dataclass(slots=True)
class _Pending:
    request: Request
    url: URL
    attempts: int = 0
    deferrals: int = 0
    first_started: float = 0.0


class Engine:
    """Runs requests through the scheduler and fetcher, emitting one result per request.

        engine = Engine(FetchConfig())
        await engine.run(requests, emit)   # emit(result) is awaited once per request

    `stop()` takes no more input and lets the attempts in flight finish (their retries are
    dropped); cancelling `run()` abandons them.
    """

    def __init__(
        self,
        config: FetchConfig,
        *,
        stats: Stats | None = None,
        delay: float = 0.0,
        gate: Gate | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.config = config
        self.stats = stats if stats is not None else Stats()
        self._gate = gate
        self._throttle = throttle
        limits = config.limits
        self._scheduler: Scheduler[_Pending] = Scheduler(
            concurrency=limits.concurrency,
            per_host=limits.host_slots,
            delay=delay,
            per_address=limits.per_ip,
        )
        self._lookups: set[asyncio.Task[None]] = set()
        self._lookup_slots = asyncio.Semaphore(_LOOKUPS_AT_ONCE)
        self._room_for_input = max(2 * limits.concurrency, 1000)
        self._bodies = BodyStore(config.save_bodies) if config.save_bodies is not None else None
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._input_done = False
        self._stopping = False
        self._failed = False
        self._emit: Emit | None = None
        self._transport: Transport | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._dispatcher_wakes_at: float | None = None
        self._not_started: list[Request] = []
        self._abandoned: list[Request] = []  # attempts cancelled before their result

    def stop(self) -> None:
        """Stop taking requests; those in flight finish and are emitted, nothing else starts."""
        self._stopping = True
        self._wake.set()
        self._room.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing waiting: every request taken has been emitted."""
        return self._scheduler.idle

    def queued_by_host(self, top: int) -> list[tuple[str, int]]:
        """The `top` hosts with the most requests waiting for their turn, and how many."""
        return self._scheduler.queued_by_host(top)

    def not_started(self) -> list[Request]:
        """After a stop: the requests taken from the input that were never attempted (or whose
        retry was still waiting), so their owner can give them back; after `run()` was
        cancelled, those whose attempt it broke off too."""
        drained = [pending.request for pending in self._scheduler.drain()]
        return self._not_started + drained + self._abandoned

    async def run(
        self, requests: AsyncIterable[Request], emit: Emit, *, transport: Transport | None = None
    ) -> None:
        """Fetch every request, awaiting `emit` once per request. The engine opens its own
        transport, unless given one that its caller has opened (to share it, as robots.txt
        does) and will close."""
        if transport is None:
            async with open_transport(self.config) as opened:
                await self.run(requests, emit, transport=opened)
            return
        ensure_open_files(self.config.limits.concurrency)
        self._emit = emit
        async with asyncio.TaskGroup() as tasks:
            self._transport, self._tasks = transport, tasks
            try:
                feeder = tasks.create_task(self._feed(requests))
                await self._dispatch()
                feeder.cancel()
                for lookup in self._lookups:
                    lookup.cancel()  # after a stop: nothing waits for them any more
            finally:
                self._transport = self._tasks = None

    async def _feed(self, requests: AsyncIterable[Request]) -> None:
        try:
            async for request in requests:
                if self._stopping:
                    self._not_started.append(request)
                    break
                if request.skip is not None:
                    # Recorded without fetching: it takes no slot and waits out no delay.
                    await self._emit_at_once(self._skipped(request, request.skip))
                    continue
                try:
                    # A crawl's URL was checked and put in canonical form when it was found.
                    found = request.frontier_id is not None
                    url = URL(request.url, encoded=True) if found else fetchable_url(request.url)
                except ValueError as exc:
                    await self._emit_at_once(self._unfetchable(request, str(exc)))
                    continue
                known = None if self._gate is None else self._gate.known(request, url)
                if known is not None and known.skip is not None:
                    await self._emit_at_once(self._skipped(request, known.skip, known.error))
                    continue
                while self._scheduler.waiting >= self._room_for_input and not self._stopping:
                    self._room.clear()
                    await self._room.wait()
                self._scheduler.add(_Pending(request, url), host_key(url), now=time.monotonic())
                self._start_ready()
        finally:
            self._input_done = True
            self._wake.set()

    def _start_ready(self) -> None:
        """Start every attempt the scheduler allows now. Called synchronously wherever a slot
        frees or work arrives, so the common path needs no extra task switch."""
        # Once an attempt has failed the task group is ending: it takes no new tasks.
        if self._stopping or self._failed or self._tasks is None or self._transport is None:
            return
        scheduler = self._scheduler
        now = time.monotonic()
        while (picked := scheduler.pop_ready(now)) is not None:
            pending, host = picked
            self._tasks.create_task(self._attempt(pending, host, self._transport))
        for host in scheduler.take_unresolved():
            lookup = self._tasks.create_task(self._look_up(host))
            self._lookups.add(lookup)
            lookup.add_done_callback(self._lookups.discard)
        if scheduler.waiting < self._room_for_input:
            self._room.set()
        wake_at = scheduler.next_wakeup()
        if wake_at is not None and (
            self._dispatcher_wakes_at is None or wake_at < self._dispatcher_wakes_at
        ):
            self._wake.set()

    async def _dispatch(self) -> None:
        """Wait for the end, waking for timers (retries, pauses) that nothing else would see."""
        scheduler = self._scheduler
        while True:
            self._start_ready()
            if scheduler.in_flight == 0 and (
                self._stopping or (self._input_done and scheduler.waiting == 0)
            ):
                return
            wake_at = self._dispatcher_wakes_at = scheduler.next_wakeup()
            # Cleared only after the state above was read, with no await in between, so a
            # wake-up set by a finishing attempt is never lost.
            self._wake.clear()
            if wake_at is None or self._stopping:
                await self._wake.wait()
            else:
                try:
                    async with asyncio.timeout(max(0.0, wake_at - time.monotonic())):
                        await self._wake.wait()
                except TimeoutError:
                    pass

    async def _look_up(self, host: str) -> None:
        """Find the address a host's requests count against (with a per-IP limit)."""
        async with self._lookup_slots:
            try:
                async with asyncio.timeout(self.config.timeouts.connect):
                    address = await address_of(host)
            except TimeoutError:
                address = None  # not held back (for a minute): its fetch will say what is wrong
        self._scheduler.set_address(host, address, now=time.monotonic())
        self._start_ready()

    async def _attempt(self, pending: _Pending, host: str, transport: Transport) -> None:
        try:
            gate = self._gate if pending.attempts == 0 else None
            if gate is not None and not await self._passes_gate(gate, pending, host):
                return
            pending.attempts += 1
            self.stats.in_flight += 1
            started = time.monotonic()
            if pending.attempts == 1:
                pending.first_started = started
            response: Response | None = None
            error: FetchError | None = None
            cut: Response | None = None  # archived cut short: the record is an error
            try:
                request = pending.request
                # An archive keeps what a body over the cap began with, cut and marked.
                archived = self.config.keep_exchanges
                response = await transport.fetch(
                    pending.url, max_bytes=request.max_bytes, headers=request.headers,
                    truncate=archived,
                )  # fmt: skip
                if archived and response.cut:
                    cap = request.max_bytes or self.config.limits.max_body_bytes
                    error = ResponseTooLarge(f"body is over the {cap}-byte cap (archived cut "
                                             "there)", url=request.url)  # fmt: skip
                    cut, response = response, None
            except FetchError as exc:
                error = exc
            except Exception as exc:  # a bug must cost one record, not the whole run
                error = FetchError(
                    f"unexpected {type(exc).__name__}: {exc}", url=pending.request.url
                )
            finally:
                self.stats.in_flight -= 1
            if isinstance(error, ProxyError) and error.proxy is not None:
                self.stats.proxy_failures[error.proxy] += 1
            elapsed = time.monotonic() - started
            decision = decide_retry(
                self.config.retry,
                pending.attempts,
                status=None if response is None else response.status,
                error=error,
                retry_after=None if response is None else response.retry_after,
            )
            now = time.monotonic()
            if self._throttle is not None:
                status = None if response is None else response.status
                paced = self._throttle.observe(
                    host, latency=elapsed, status=status, now=now, started=started
                )
                self._scheduler.pace(host, paced, now=now)
            if decision.retry and self._stopping:
                # Not final: given back like the retries still waiting, so a resumable crawl
                # fetches it again rather than keep a temporary error for good.
                self._not_started.append(pending.request)
                self._release(host, decision.host_pause)
                return
            if decision.retry:
                if logger.isEnabledFor(logging.DEBUG):
                    why = error if response is None else f"status {response.status}"
                    logger.debug(
                        "%s: attempt %d failed (%s); again in %.1fs",
                        pending.request.url, pending.attempts, why, decision.delay,
                    )  # fmt: skip
                self.stats.retries += 1
                self._scheduler.release(host, now=now, pause=decision.host_pause)
                self._scheduler.add(pending, host, now=now, not_before=now + decision.delay)
                self._start_ready()
                return
            try:
                body_path = None
                if self._bodies is not None and response is not None and response.body is not None:
                    body_path = await asyncio.to_thread(self._bodies.save, response.body)
                result = self._result(pending, response, error, elapsed, body_path)
                if cut is not None:
                    result = replace(result, exchanges=cut.exchanges, proxy=cut.proxy)
            except BaseException:
                self._failed = True  # a body that could not be saved: the run ends
                self._release(host, decision.host_pause)
                raise
            await self._finish(result, host, pause=decision.host_pause)
        except asyncio.CancelledError:
            self._abandoned.append(pending.request)  # broken off: no result was taken for it
            raise
        except BaseException:
            self._failed = True
            raise

    async def _passes_gate(self, gate: Gate, pending: _Pending, host: str) -> bool:
        """Ask the gate; False when it has settled the request (a skip, or a deferral)."""
        verdict = await gate.ask(pending.request, pending.url)
        if verdict.host_delay is not None:
            self._scheduler.set_delay(host, verdict.host_delay, now=time.monotonic())
        if verdict.retry_in is not None:
            await self._defer(pending, host, verdict.retry_in)
            return False
        if verdict.skip is not None:
            skipped = self._skipped(pending.request, verdict.skip, verdict.error)
            await self._finish(skipped, host, pause=0.0, unused=True)
            return False
        return True

    async def _finish(
        self, result: FetchResult, host: str, *, pause: float, unused: bool = False
    ) -> None:
        try:
            self.stats.record(result)
            # The slot is held until the result is taken, so a slow consumer slows the fetching
            # instead of piling up finished results in memory.
            assert self._emit is not None
            await self._emit(result)
        finally:
            self._release(host, pause, unused=unused)

    async def _defer(self, pending: _Pending, host: str, seconds: float) -> None:
        """The gate cannot answer yet (robots.txt unreachable): ask again later, a few times."""
        pending.deferrals += 1
        logger.debug("%s: waits %.1fs for its host's robots.txt", pending.request.url, seconds)
        if pending.deferrals > MAX_DEFERRALS:
            error = RobotsUnavailable(
                f"robots.txt unreachable or failing after {MAX_DEFERRALS} tries",
                url=pending.request.url,
            )
            result = FetchResult(
                url=pending.request.url,
                position=pending.request.position,
                error=ErrorInfo.from_exception(error),
                request=pending.request,
            )
            await self._finish(result, host, pause=0.0, unused=True)
            return
        now = time.monotonic()
        self._scheduler.release(host, now=now, unused=True)
        self._scheduler.add(pending, host, now=now, not_before=now + seconds)
        self._start_ready()

    def _release(self, host: str, pause: float, *, unused: bool = False) -> None:
        self._scheduler.release(host, now=time.monotonic(), pause=pause, unused=unused)
        if self._scheduler.in_flight == 0:
            self._wake.set()  # the end may have come
        self._start_ready()

    def _result(
        self,
        pending: _Pending,
        response: Response | None,
        error: FetchError | None,
        elapsed: float,
        body_path: str | None,
    ) -> FetchResult:
        request = pending.request
        if isinstance(error, NotArchived):  # a replay's: nothing was fetched
            return self._skipped(request, SkipReason.NOT_ARCHIVED)
        if response is None:
            assert error is not None
            return FetchResult(
                url=request.url,
                position=request.position,
                proxy=getattr(error, "proxy", None),
                elapsed=elapsed,
                elapsed_total=time.monotonic() - pending.first_started,
                attempts=pending.attempts,
                error=ErrorInfo.from_exception(error),
                request=request,
            )
        return FetchResult(
            url=request.url,
            position=request.position,
            final_url=request.url if not response.redirects else str(response.url),
            status=response.status,
            headers=response.headers,
            content_type=response.content_type,
            charset=response.charset,
            size=response.size,
            elapsed=elapsed,
            elapsed_total=time.monotonic() - pending.first_started,
            ttfb=response.ttfb,
            attempts=pending.attempts,
            redirects=response.redirects,
            http_version=response.http_version,
            proxy=response.proxy,
            body_path=body_path,
            body=response.body if self.config.keep_body else None,
            request=request,
            exchanges=response.exchanges,
        )

    @staticmethod
    def _skipped(
        request: Request, reason: SkipReason, error: ErrorInfo | None = None
    ) -> FetchResult:
        return FetchResult(request.url, request.position, skip=reason, error=error, request=request)

    @staticmethod
    def _unfetchable(request: Request, reason: str) -> FetchResult:
        error = ErrorInfo.from_exception(BlockedURL(reason, url=request.url))
        return FetchResult(request.url, request.position, error=error, request=request)

    async def _emit_at_once(self, result: FetchResult) -> None:
        """A result made without the scheduler: nothing is sent for it."""
        self.stats.record(result)
        assert self._emit is not None
        await self._emit(result)
