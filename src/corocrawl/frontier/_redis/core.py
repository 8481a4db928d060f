"""A frontier in Redis, shared by any number of workers on any number of machines.

Requests live in Redis Streams, one per partition of the host space (a stable hash of the host
name), read through one consumer group: a request is delivered to one worker, and removed only
when that worker acknowledges it after writing its record (at-least-once). Each partition is
owned by one worker at a time, under a lease the worker renews with its heartbeat, so a host's
politeness (its limits, delays and robots.txt) is kept by exactly one process across all
machines. A worker that stops heartbeating loses its leases; whoever takes a partition over
claims its unacknowledged requests (XAUTOCLAIM) and fetches them again.

"Seen" and "queued" are one Lua script (a crash can never separate them); streams are never
trimmed by length (that would delete undelivered requests), only acknowledged entries are
deleted. Every key of a crawl shares the hash tag {crawl id}.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import random
import socket
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import orjson
from yarl import URL

from ..._exceptions import (
    BackendUnavailable,
    ConfigError,
    CrawlNotFound,
    FrontierClosed,
)
from ..._models import SkipReason
from ..._urls import host_key, host_partition
from .._base import Discovered, FrontierCounts, Leased, Visit
from .connection import (
    FIRST_CONNECT_WITHIN,
    first_contact,
    retrying,
    server_warnings,
    shown,
    text,
)
from .scripts import GROUP, Scripts
from .status import CrawlStatus, WorkerStatus

__all__ = [
    "DEFAULT_HEARTBEAT",
    "DEFAULT_OUTAGE_LIMIT",
    "CrawlStatus",
    "RedisFrontier",
    "WorkerStatus",
]

logger = logging.getLogger("corocrawl")

T = TypeVar("T")

DEFAULT_PARTITIONS = 64
# A worker renews its partitions' leases this often (seconds); it loses them after 5 silent beats.
DEFAULT_HEARTBEAT = 1.0
DEFAULT_OUTAGE_LIMIT = 300.0  # seconds a Redis outage is waited out, then the worker stops
_ADD_BATCH = 2000
_COUNTERS = ("added", "leased", "done", "failed", "skipped")
_REVISIT_BATCH = 1000


@dataclass(slots=True)
class _Entry:
    partition: int
    entry_id: str
    host: str
    leased: Leased
    fingerprint: bytes  # empty in the entries of a crawl begun by an older corocrawl


class RedisFrontier:
    """The Frontier interface on Redis Streams. Open it with `await RedisFrontier.open(url,
    crawl_id)`; every worker of a crawl opens the same URL and crawl id.

    `counts()` is the whole crawl's, across all workers, refreshed with each call and each
    heartbeat. If Redis cannot be reached, each call retries with backoff for up to
    `unavailable_after` seconds, then raises BackendUnavailable.
    """

    def __init__(
        self,
        client: Any,
        crawl_id: str,
        *,
        worker_id: str,
        partitions: int,
        heartbeat: float,
        lease_ttl: float,
        unavailable_after: float,
        hold_per_partition: int = 64,
    ) -> None:
        self.crawl_id = crawl_id
        self.worker_id = worker_id
        self.partitions = partitions
        self._redis = client
        self._heartbeat_every = heartbeat
        self._lease_ms = round(lease_ttl * 1000)
        self._unavailable_after = unavailable_after
        prefix = f"corocrawl:{{{crawl_id}}}:"
        self._prefix = prefix
        self._seen, self._counts_key = prefix + "seen", prefix + "counts"
        self._seeds_key, self._hosts_key = prefix + "seeds", prefix + "hosts"
        self._meta_key, self._workers_key = prefix + "meta", prefix + "workers"
        # Each fetched page's last visit, and when it is due again, for a recrawl.
        self._pages_key, self._due_key = prefix + "pages", prefix + "due"
        self._streams = [f"{prefix}q:{number}" for number in range(partitions)]
        self._owners = [f"{prefix}owner:{number}" for number in range(partitions)]
        self._scripts = Scripts(client)
        self._owned: dict[int, bool] = {}  # partition -> still claiming from it (not draining)
        self._leases: dict[int, _Entry] = {}
        self._held: Counter[int] = Counter()  # leases of ours, by partition
        self._hold_per_partition = hold_per_partition
        self._known: set[tuple[int, str]] = set()
        self._offer: deque[Leased] = deque()
        self._ids = itertools.count(1)
        self._counts = FrontierCounts(0, 0, 0, 0, 0)
        self._done_here = 0
        self._fetching: Callable[[], int] = lambda: 0
        self._rotation = 0
        self._target = partitions
        self._next_acquire = 0.0
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False
        self._stop_waiting = asyncio.Event()
        self._gone: BackendUnavailable | None = None  # Redis outlasted the wait: fail fast

    @classmethod
    async def open(
        cls,
        url: str,
        crawl_id: str,
        *,
        worker_id: str | None = None,
        partitions: int = DEFAULT_PARTITIONS,
        heartbeat: float = DEFAULT_HEARTBEAT,
        lease_ttl: float = 5.0,
        unavailable_after: float = DEFAULT_OUTAGE_LIMIT,
        join: bool = True,
        create: bool | None = None,
        connect_within: float = FIRST_CONNECT_WITHIN,
    ) -> RedisFrontier:
        """Connect and take this worker's share of the partitions (none if `join` is False:
        for status and export, which only read). A crawl that does not exist yet is created
        if `create` is true (by default: if `join` is), else CrawlNotFound is raised.

        Redis must answer within `connect_within` seconds (a wrong address fails fast);
        once connected, an outage is waited out for up to `unavailable_after` seconds."""
        import redis.asyncio

        if not crawl_id or any(char in crawl_id for char in "{}: \t\n"):
            raise ConfigError(f"crawl id {crawl_id!r}: use letters, digits, '-', '_' or '.'")
        try:
            client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=5)
        except ValueError as exc:
            raise ConfigError(f"--frontier {shown(url)!r}: {exc}") from None
        create = join if create is None else create
        try:
            stored = await first_contact(client, url, crawl_id, connect_within, unavailable_after)
            if stored is None and not create:
                raise CrawlNotFound(
                    f"crawl {crawl_id!r} has not been started in {shown(url)}: start it with "
                    f"'corocrawl crawl --frontier {shown(url)} --crawl-id {crawl_id} SEED...'"
                )
            frontier = cls(
                client,
                crawl_id,
                worker_id=worker_id
                or f"{socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}",
                partitions=partitions if stored is None else int(stored),  # the crawl's own
                heartbeat=heartbeat,
                lease_ttl=lease_ttl,
                unavailable_after=unavailable_after,
            )
            await frontier._setup(join, create=stored is None)
        except BaseException:
            await client.aclose()
            raise
        return frontier

    async def _setup(self, join: bool, *, create: bool) -> None:
        if create:
            await self._call(self._create)
        await self._refresh_counts()
        if join:
            await self._beat()
            self._heartbeat = asyncio.create_task(self._heartbeat_forever())

    async def _create(self) -> None:
        import redis

        await self._redis.hsetnx(self._meta_key, "partitions", self.partitions)
        await self._redis.hsetnx(self._meta_key, "created", time.time())
        for stream in self._streams:
            try:
                await self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # The Frontier interface.

    async def add(self, discovered: Sequence[Discovered]) -> int:
        self._check_open()
        added = 0
        # In batches: one script blocks Redis while it runs, and a huge seed list must not.
        for start in range(0, len(discovered), _ADD_BATCH):
            added += await self._add(discovered[start : start + _ADD_BATCH])
        await self._refresh_counts()
        return added

    async def _add(self, discovered: Sequence[Discovered]) -> int:
        streams: dict[int, int] = {}  # partition -> its index in KEYS
        args: list[Any] = []
        for item in discovered:
            host = host_key(URL(item.url, encoded=True))
            number = host_partition(host, self.partitions)
            index = streams.setdefault(number, 5 + len(streams))
            args += [item.fingerprint, index, item.url, item.depth, item.referrer or "",
                     item.skip or "", host, item.host_depth, item.sitemap]  # fmt: skip
        keys = [self._seen, self._counts_key, self._seeds_key, self._hosts_key]
        keys += [self._streams[number] for number in streams]
        added: int = await self._call(lambda: self._scripts.add(keys=keys, args=args))
        return added

    async def claim(self, limit: int) -> list[Leased]:
        self._check_open()
        claimed: list[Leased] = []
        if sum(self._owned.values()) < self._target and time.monotonic() >= self._next_acquire:
            # Short of our share: look for partitions freed since the last heartbeat.
            self._next_acquire = time.monotonic() + self._heartbeat_every / 4
            await self._acquire(self._target - sum(self._owned.values()))
        while self._offer and len(claimed) < limit:
            claimed.append(self._offer.popleft())
        active = [number for number, claiming in self._owned.items() if claiming]
        if len(claimed) < limit and active:
            # Start from another partition each time, so that no host waits behind another.
            self._rotation = (self._rotation + 1) % len(active)
            order = active[self._rotation :] + active[: self._rotation]
            keys = [self._counts_key]
            for number in order:
                keys += [self._streams[number], self._owners[number]]
            args = [GROUP, self.worker_id, limit - len(claimed)]
            args += [max(0, self._hold_per_partition - self._held[number]) for number in order]
            reply = await self._call(lambda: self._scripts.claim(keys=keys, args=args))
            for index, entries in reply:
                number = order[(int(index) - 2) // 2]
                claimed += [self._lease(number, entry_id, fields) for entry_id, fields in entries]
        await self._refresh_counts()  # the whole crawl's: other workers move it too
        return claimed

    async def complete(
        self,
        done: Sequence[int],
        failed: Sequence[int] = (),
        skipped: Sequence[int] = (),
        *,
        outputs: Mapping[str, int] | None = None,
        visits: Mapping[int, Visit] | None = None,
    ) -> None:
        # `outputs` is not kept: each worker writes a file of its own that no later worker
        # reopens, and `export` keeps one record per URL of what a killed worker left.
        self._check_open()
        streams: dict[int, int] = {}
        args: list[Any] = [GROUP]
        forgotten: list[int] = []
        for outcome, ids in (("done", done), ("failed", failed), ("skipped", skipped)):
            for request_id in ids:
                entry = self._forget(request_id)
                if entry is None:
                    continue
                forgotten.append(entry.partition)
                index = streams.setdefault(entry.partition, 5 + len(streams))
                # A revisit that was skipped keeps its last visit: due again at once.
                visit = (visits or {}).get(request_id) or entry.leased.previous
                page, due = _page(entry, visit, outcome)
                args += [index, entry.entry_id, outcome, entry.host, entry.fingerprint, page, due]
                self._done_here += 1
        if len(args) == 1:
            return
        keys = [self._counts_key, self._hosts_key, self._pages_key, self._due_key]
        keys += [self._streams[number] for number in streams]
        await self._call(lambda: self._scripts.complete(keys=keys, args=args))
        self._held.subtract(forgotten)
        await self._refresh_counts()

    async def release(self, ids: Sequence[int]) -> None:
        """Queue these again (at the end of their stream), for any worker to take."""
        self._check_open()
        streams: dict[int, int] = {}
        args: list[Any] = [GROUP]
        forgotten: list[int] = []
        for request_id in sorted(ids):
            entry = self._forget(request_id)
            if entry is None:
                continue
            forgotten.append(entry.partition)
            leased = entry.leased
            index = streams.setdefault(entry.partition, 2 + len(streams))
            args += [index, entry.entry_id, leased.url, leased.depth, leased.referrer or "",
                     leased.skip or "", entry.host, leased.host_depth, leased.sitemap,
                     entry.fingerprint, _packed(leased.previous)]  # fmt: skip
        if len(args) == 1:
            return
        released = set(ids)
        self._offer = deque(leased for leased in self._offer if leased.id not in released)
        keys = [self._counts_key] + [self._streams[number] for number in streams]
        await self._call(lambda: self._scripts.release(keys=keys, args=args))
        self._held.subtract(forgotten)
        await self._refresh_counts()

    async def revisit(self, now: float) -> int:
        self._check_open()
        queued = 0
        while (batch := await self._revisit_batch(now)) is not None:
            queued += batch
        await self._refresh_counts()
        return queued

    async def _revisit_batch(self, now: float) -> int | None:
        """Queue again the next pages due by `now`: how many; None when none is left."""
        due = await self._call(
            partial(self._redis.zrangebyscore, self._due_key, "-inf", now, start=0,
                    num=_REVISIT_BATCH)
        )  # fmt: skip
        if not due:
            return None
        pages = await self._call(partial(self._redis.hmget, self._pages_key, due))
        streams: dict[int, int] = {}
        args: list[Any] = [now]
        for fingerprint, page in zip(due, pages, strict=True):
            if page is None:  # never: kept together; but the loop must not spin on one
                await self._call(partial(self._redis.zrem, self._due_key, fingerprint))
                continue
            url, depth, referrer, host_depth, sitemap, visit, outcome = orjson.loads(page)
            host = host_key(URL(url, encoded=True))
            index = streams.setdefault(host_partition(host, self.partitions), 5 + len(streams))
            args += [fingerprint, index, url, depth, referrer, host, host_depth, sitemap,
                     orjson.dumps(visit), outcome]  # fmt: skip
        keys = [self._counts_key, self._hosts_key, self._pages_key, self._due_key]
        keys += [self._streams[number] for number in streams]
        queued: int = await self._call(partial(self._scripts.revisit, keys=keys, args=args))
        return queued

    def counts(self) -> FrontierCounts:
        return self._counts

    async def output_lengths(self) -> dict[str, int]:
        return {}

    async def seeds(self) -> list[str]:
        seeds = await self._call(lambda: self._redis.lrange(self._seeds_key, 0, -1))
        return [seed.decode() for seed in seeds]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        joined = self._heartbeat is not None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self._gone is not None:  # leases expire on their own
            await self._redis.aclose()
            return
        try:
            # Give the partitions up now: whoever takes one over claims what was left in it.
            for number in list(self._owned):
                await self._scripts.give_up(keys=[self._owners[number]], args=[self.worker_id])
            await self._redis.zrem(self._workers_key, self.worker_id)
            await self._redis.delete(self._worker_key(self.worker_id))
            if joined:  # each worker id is new: without this, consumers pile up over restarts
                await self._scripts.forget_consumer(
                    keys=self._streams, args=[GROUP, self.worker_id]
                )
        except Exception as exc:  # leases then expire on their own
            logger.warning("redis frontier: could not give up partitions: %s", exc)
        finally:
            await self._redis.aclose()

    # What the crawl shares besides requests.

    async def shared_settings(self) -> dict[str, Any] | None:
        """The crawl's settings (scope, politeness) saved by whoever seeded it."""
        raw = await self._call(lambda: self._redis.hget(self._meta_key, "settings"))
        return None if raw is None else dict(orjson.loads(raw))

    async def save_settings(self, settings: dict[str, Any]) -> bool:
        """Save the crawl's settings unless some are saved already; True if these were."""
        raw = orjson.dumps(settings)
        saved: int = await self._call(lambda: self._redis.hsetnx(self._meta_key, "settings", raw))
        return bool(saved)

    def report_fetching(self, fetching: Callable[[], int]) -> None:
        """What this worker tells `status` with each heartbeat: how many fetches it is
        running now (its claimed requests also count those queued or waiting to retry)."""
        self._fetching = fetching

    async def server_warnings(self) -> list[str]:
        """What in the Redis server's settings could lose requests."""
        return await server_warnings(self._redis)

    async def status(self) -> CrawlStatus:
        await self._refresh_counts()
        now = time.time()

        async def read() -> tuple[Any, Any]:
            hosts = await self._redis.hgetall(self._hosts_key)
            workers = await self._redis.zrangebyscore(
                self._workers_key, now - self._lease_ms / 1000, "+inf", withscores=True
            )
            return hosts, workers

        hosts, workers = await self._call(read)
        found = []
        for member, seen in workers:
            info = await self._call(partial(self._redis.hgetall, self._worker_key(member.decode())))
            found.append(
                WorkerStatus(
                    member.decode(),
                    now - seen,
                    int(info.get(b"partitions", 0)),
                    int(info.get(b"done", 0)),
                    int(info.get(b"fetching", 0)),
                )
            )
        queued = {host.decode(): int(count) for host, count in hosts.items() if int(count) > 0}
        return CrawlStatus(self._counts, queued, found, self.partitions)

    # Partition leases and the heartbeat.

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_every)
            try:
                await self._beat()
            except Exception as exc:
                # Whatever failed, the leases may be lost: claim nothing until renewed. (The
                # claim script checks the lease too, so a stale view never takes a host.)
                logger.warning("redis frontier: heartbeat failed (%s); holding no hosts", exc)
                self._owned.clear()

    async def _beat(self) -> None:
        now = time.time()
        pipe_result = await self._call(lambda: self._register(now))
        live = max(1, int(pipe_result))
        owned = list(self._owned)
        if owned:
            lost = await self._call(
                partial(
                    self._scripts.renew_all,
                    keys=[self._owners[number] for number in owned],
                    args=[self.worker_id, self._lease_ms],
                )
            )
            for index in lost:
                logger.warning(
                    "redis frontier: lost partition %d to another worker", owned[index - 1]
                )
                del self._owned[owned[index - 1]]
        target = self._target = math.ceil(self.partitions / live)
        claiming = [number for number, active in self._owned.items() if active]
        for number in claiming[target:]:
            self._owned[number] = False  # drain it, then give it up
        for number, active in list(self._owned.items()):
            if not active and not self._holds(number):
                await self._call(
                    partial(
                        self._scripts.give_up, keys=[self._owners[number]], args=[self.worker_id]
                    )
                )
                del self._owned[number]
        wanted = target - sum(self._owned.values())
        if wanted > 0:
            await self._acquire(wanted)
        for number in list(self._owned):
            await self._sweep(number)
        await self._refresh_counts()

    async def _register(self, now: float) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._workers_key, {self.worker_id: now})
            pipe.zremrangebyscore(self._workers_key, "-inf", now - self._lease_ms / 1000)
            pipe.hset(
                self._worker_key(self.worker_id),
                mapping={
                    "partitions": len(self._owned),
                    "done": self._done_here,
                    "fetching": self._fetching(),
                },
            )
            pipe.pexpire(self._worker_key(self.worker_id), self._lease_ms)
            pipe.zcard(self._workers_key)
            replies = await pipe.execute()
        return int(replies[-1])

    async def _acquire(self, wanted: int) -> None:
        candidates = [number for number in range(self.partitions) if number not in self._owned]
        random.shuffle(candidates)
        taken = await self._call(
            partial(
                self._scripts.acquire,
                keys=[self._owners[number] for number in candidates],
                args=[self.worker_id, self._lease_ms, wanted],
            )
        )
        for index in taken:
            number = candidates[index - 1]
            self._owned[number] = True
            await self._sweep(number)

    async def _sweep(self, number: int) -> None:
        """Adopt the partition's requests that nobody has touched for a lease period: those a
        previous owner left, or a claim of ours whose reply was lost."""
        cursor = "0-0"
        while True:
            reply = await self._call(
                partial(self._redis.xautoclaim, self._streams[number], GROUP, self.worker_id,
                        self._lease_ms, start_id=cursor, count=500)
            )  # fmt: skip
            cursor, entries = reply[0], reply[1]
            for entry_id, fields in entries:
                if fields is None:
                    continue  # deleted meanwhile
                if (number, text(entry_id)) not in self._known:
                    self._offer.append(self._lease(number, entry_id, fields))
            if text(cursor) == "0-0":
                return

    def _forget(self, request_id: int) -> _Entry | None:
        """Drop a lease from our books; `_held` is lowered by the caller once Redis agrees."""
        entry = self._leases.pop(request_id, None)
        if entry is not None:
            self._known.discard((entry.partition, entry.entry_id))
        return entry

    def _holds(self, number: int) -> bool:
        return self._held[number] > 0

    def _lease(self, number: int, entry_id: Any, fields: Any) -> Leased:
        if isinstance(fields, list):  # from the Lua script: a flat list
            fields = dict(zip(fields[::2], fields[1::2], strict=True))
        referrer, skip = text(fields[b"r"]), text(fields[b"s"])
        previous = fields.get(b"p")
        leased = Leased(
            next(self._ids),
            text(fields[b"u"]),
            int(fields[b"d"]),
            referrer or None,
            SkipReason(skip) if skip else None,
            # Absent from the entries of a crawl begun by an older corocrawl.
            int(fields.get(b"k", 0)),
            int(fields.get(b"m", 0)),
            Visit(*orjson.loads(previous)) if previous else None,
        )
        entry = _Entry(number, text(entry_id), text(fields[b"h"]), leased, fields.get(b"f", b""))
        self._leases[leased.id] = entry
        self._held[number] += 1
        self._known.add((number, entry.entry_id))
        return leased

    async def _refresh_counts(self) -> None:
        values = await self._call(lambda: self._redis.hmget(self._counts_key, _COUNTERS))
        added, leased, done, failed, skipped = (int(value or 0) for value in values)
        self._counts = FrontierCounts(
            added - leased - done - failed - skipped, leased, done, failed, skipped
        )

    def _worker_key(self, worker_id: str) -> str:
        return f"{self._prefix}worker:{worker_id}"

    def _check_open(self) -> None:
        if self._closed:
            raise FrontierClosed("the Redis frontier is closed")

    def stop_waiting(self) -> None:
        """Wait out no outage from now on: a call that finds Redis down fails at once (the
        worker is being stopped, and must not wait minutes for a Redis that may not return)."""
        self._stop_waiting.set()

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        # Once one call has waited out the whole outage, every later one fails at once: a
        # worker stops after `unavailable_after`, not after that much for each of its calls.
        if self._gone is not None:
            raise BackendUnavailable(str(self._gone))
        try:
            return await retrying(
                operation, self._unavailable_after, stop_waiting=self._stop_waiting
            )
        except BackendUnavailable as exc:
            if not self._stop_waiting.is_set():  # waited out the whole limit, not told to stop
                self._gone = exc
            raise


def _packed(visit: Visit | None) -> bytes:
    return b"" if visit is None else orjson.dumps(list(visit))


def _page(entry: _Entry, visit: Visit | None, outcome: str) -> tuple[bytes, float | str]:
    """What `pages` keeps of a fetched request, and when it is due again ("" for nothing)."""
    if visit is None or not entry.fingerprint:
        return b"", ""
    leased = entry.leased
    page = [leased.url, leased.depth, leased.referrer or "", leased.host_depth, leased.sitemap,
            list(visit), outcome]  # fmt: skip
    return orjson.dumps(page), visit.fetched_at + visit.interval
