"""When each request may start: global, per-host and per-address slots, per-host pauses,
retry timers.

Pure decisions, no I/O and no clock of its own: the engine passes `now` in and does the
awaiting, and looks up the addresses hosts resolve to when asked (`take_unresolved`). Hosts
take turns (round-robin), so one huge or slow host never starves the others. Every operation
is O(log n) in the number of waiting hosts or timers, never a scan.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Scheduler"]

_REMEMBERED_DELAYS = 10_000
_REMEMBERED_ADDRESSES = 100_000
ADDRESS_TTL = 3600.0  # an idle host's address is looked up again after this long (seconds)
FAILED_LOOKUP_TTL = 60.0  # and after this long, when its lookup failed
_NO_ADDRESS = ""  # a host whose lookup failed: not limited by an address

T = TypeVar("T")


@dataclass(slots=True)
class _Host(Generic[T]):
    queue: deque[T] = field(default_factory=deque)
    in_flight: int = 0
    delayed: int = 0
    ready_at: float = 0.0
    delay: float | None = None  # this host's own least time between starts (Crawl-delay)
    paced: float = 0.0  # the adaptive delay of politeness (see throttle.py), if larger
    in_ready_ring: bool = False
    timer_at: float | None = None
    # The last start's effect on ready_at (before, after), so an unused start gives it back.
    last_start: tuple[float, float] | None = None
    # With a per-address limit: the address its requests count against (None: not looked up
    # yet; it waits for it), and whether it waits for a slot of that address.
    address: str | None = None
    lookup_asked: bool = False
    parked: bool = False


@dataclass(slots=True)
class _Address:
    in_flight: int = 0
    parked: deque[str] = field(default_factory=deque)  # its hosts waiting for a slot


class Scheduler(Generic[T]):
    """Queues of items per host, handed out as slots free up.

    `delay` is the least time between two starts on one host. `release(host, pause=s)` keeps a
    host waiting, e.g. after a 429 with Retry-After, while other hosts go on at full speed.
    `per_address` bounds the requests in flight to one IP address, over all the hosts on it:
    a host named by a name waits until its address is set (`take_unresolved`, `set_address`).
    """

    def __init__(
        self,
        *,
        concurrency: int,
        per_host: int,
        delay: float = 0.0,
        per_address: int | None = None,
    ) -> None:
        self._concurrency = concurrency
        self._per_host = per_host
        self._delay = delay
        self._per_address = per_address or 0  # 0: no per-address limit
        self._addresses: dict[str, _Address] = {}
        self._addresses_of_hosts: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._unresolved: list[str] = []
        self._hosts: dict[str, _Host[T]] = {}
        self._ring: deque[str] = deque()
        self._host_timers: list[tuple[float, str]] = []
        self._delayed: list[tuple[float, int, str, T]] = []
        self._tiebreak = itertools.count()
        self._queued = 0
        self._in_flight = 0
        # Hosts' own delays (Crawl-delay) outlive the host's state, which is dropped when idle.
        self._host_delays: OrderedDict[str, float] = OrderedDict()
        self._paces: OrderedDict[str, float] = OrderedDict()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Items not yet started: queued on their host, or waiting for a retry timer."""
        return self._queued + len(self._delayed)

    @property
    def idle(self) -> bool:
        return self._in_flight == 0 and self.waiting == 0

    def queued_by_host(self, top: int) -> list[tuple[str, int]]:
        """The `top` hosts with the most items waiting (queued, or for a retry), and how many."""
        waiting = ((host, len(state.queue) + state.delayed) for host, state in self._hosts.items())
        return heapq.nlargest(top, (item for item in waiting if item[1]), key=lambda item: item[1])

    def add(self, item: T, host: str, *, now: float, not_before: float = 0.0) -> None:
        """Queue `item` for `host`; with `not_before` in the future it waits for that time."""
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _Host(
                delay=self._host_delays.get(host), paced=self._paces.get(host, 0.0)
            )
            if self._per_address:
                state.address = self._known_address(host, now)
        if not_before > now:
            state.delayed += 1
            heapq.heappush(self._delayed, (not_before, next(self._tiebreak), host, item))
            return
        state.queue.append(item)
        self._queued += 1
        self._consider(host, state, now)

    def pop_ready(self, now: float) -> tuple[T, str] | None:
        """The next item allowed to start now, with its host; None when none may start yet."""
        self._fire_timers(now)
        while self._in_flight < self._concurrency and self._ring:
            host = self._ring.popleft()
            state = self._hosts[host]
            state.in_ready_ring = False
            if state.ready_at > now:
                # A pause arrived while the host stood in the ring: wait for it first.
                self._consider(host, state, now)
                continue
            if state.address:
                slots = self._addresses.get(state.address)
                if slots is None:
                    slots = self._addresses[state.address] = _Address()
                if slots.in_flight >= self._per_address:
                    state.parked = True
                    slots.parked.append(host)
                    continue
                slots.in_flight += 1
            item = state.queue.popleft()
            self._queued -= 1
            state.in_flight += 1
            self._in_flight += 1
            delay = self._delay if state.delay is None else state.delay
            delay = max(delay, state.paced)
            if delay:
                state.last_start = (state.ready_at, now + delay)
                state.ready_at = now + delay
            self._consider(host, state, now)
            return item, host
        return None

    def take_unresolved(self) -> list[str]:
        """The hosts waiting for their address since the last call: look each up once and
        give it with `set_address`."""
        hosts, self._unresolved = self._unresolved, []
        return hosts

    def set_address(self, host: str, address: str | None, *, now: float) -> None:
        """The IP address `host` resolves to (None if the lookup failed: the host is then not
        limited by an address); its requests count against that address from now on."""
        lasts = ADDRESS_TTL if address is not None else FAILED_LOOKUP_TTL
        address = _NO_ADDRESS if address is None else address
        self._addresses_of_hosts[host] = (address, now + lasts)
        self._addresses_of_hosts.move_to_end(host)
        if len(self._addresses_of_hosts) > _REMEMBERED_ADDRESSES:
            self._addresses_of_hosts.popitem(last=False)
        state = self._hosts.get(host)
        if state is not None and state.address is None:
            state.address = address
            state.lookup_asked = False
            self._consider(host, state, now)

    def set_delay(self, host: str, delay: float, *, now: float) -> None:
        """Space this host's starts by `delay` seconds, starting now."""
        _remember(self._host_delays, host, delay)
        state = self._hosts.get(host)
        if state is not None:
            state.delay = delay
            state.ready_at = max(state.ready_at, now + delay)

    def pace(self, host: str, delay: float, *, now: float) -> None:
        """Space this host's starts by at least `delay` (adaptive politeness); a larger delay
        than before holds the host back from now on, a smaller one applies from its next start."""
        state = self._hosts.get(host)
        if state is not None and state.paced == delay:
            return  # the common case: nothing changed
        _remember(self._paces, host, delay)
        if state is not None:
            if delay > state.paced:
                state.ready_at = max(state.ready_at, now + delay)
            state.paced = delay

    def release(self, host: str, *, now: float, pause: float = 0.0, unused: bool = False) -> None:
        """An item of `host` has finished; `pause` keeps the host from starting more for a while.

        `unused`: nothing was sent for it (a robots.txt refusal, a deferral), so its start
        costs the host no delay: the next item may start as if it had not been taken."""
        state = self._hosts[host]
        state.in_flight -= 1
        self._in_flight -= 1
        if state.address:
            self._release_address(state.address, now)
        if unused and state.last_start is not None and state.ready_at == state.last_start[1]:
            state.ready_at = state.last_start[0]
            state.last_start = None
        if pause > 0:
            state.ready_at = max(state.ready_at, now + pause)
        self._consider(host, state, now)

    def drain(self) -> list[T]:
        """Take every item not yet started (queued or waiting for a timer) out; in-flight
        items are untouched and still need their release()."""
        items = [item for state in self._hosts.values() for item in state.queue]
        items += [item for _, _, _, item in self._delayed]
        for state in self._hosts.values():
            state.queue.clear()
            state.delayed = 0
        self._delayed.clear()
        self._queued = 0
        self._ring.clear()
        for state in self._hosts.values():
            state.in_ready_ring = state.parked = False
        for slots in self._addresses.values():
            slots.parked.clear()
        return items

    def next_wakeup(self) -> float | None:
        """The earliest time at which a timer may make an item ready, if any is set."""
        host_timers, delayed = self._host_timers, self._delayed
        if host_timers and delayed:
            return min(host_timers[0][0], delayed[0][0])
        if host_timers:
            return host_timers[0][0]
        return delayed[0][0] if delayed else None

    def _fire_timers(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            _, _, host, item = heapq.heappop(self._delayed)
            state = self._hosts[host]
            state.delayed -= 1
            state.queue.append(item)
            self._queued += 1
            self._consider(host, state, now)
        while self._host_timers and self._host_timers[0][0] <= now:
            at, host = heapq.heappop(self._host_timers)
            timed = self._hosts.get(host)
            if timed is not None and timed.timer_at == at:
                timed.timer_at = None
                self._consider(host, timed, now)

    def _consider(self, host: str, state: _Host[T], now: float) -> None:
        """Put a host in the ring, on a timer, or forget it, whichever its state calls for."""
        if state.in_ready_ring or state.parked:
            return
        if state.ready_at > now:
            if state.timer_at is None or state.ready_at < state.timer_at:
                state.timer_at = state.ready_at
                heapq.heappush(self._host_timers, (state.ready_at, host))
            return
        if state.queue and state.in_flight < self._per_host:
            if state.address is None and self._per_address:
                if not state.lookup_asked:
                    state.lookup_asked = True
                    self._unresolved.append(host)
                return
            state.in_ready_ring = True
            self._ring.append(host)
        elif not state.queue and not state.in_flight and not state.delayed:
            # Forgotten only once its pause is over, so a host never escapes its delay.
            del self._hosts[host]

    def _known_address(self, host: str, now: float) -> str | None:
        """The address a host's requests count against, if known without a lookup."""
        known = self._addresses_of_hosts.get(host)
        if known is None or known[1] <= now:
            return None
        return known[0]

    def _release_address(self, address: str, now: float) -> None:
        """A request to `address` has finished: its slot goes to the first of its waiting
        hosts that can start now (those that cannot, on a pause, take their turn later)."""
        slots = self._addresses[address]
        slots.in_flight -= 1
        while slots.parked:
            host = slots.parked.popleft()
            state = self._hosts.get(host)
            if state is None or not state.parked:
                continue
            state.parked = False
            self._consider(host, state, now)
            if state.in_ready_ring:
                break
        if not slots.in_flight and not slots.parked:
            del self._addresses[address]


def _remember(delays: OrderedDict[str, float], host: str, delay: float) -> None:
    """Keep a host's delay past its state (dropped when idle), for the most recent hosts."""
    delays[host] = delay
    delays.move_to_end(host)
    if len(delays) > _REMEMBERED_DELAYS:
        delays.popitem(last=False)
