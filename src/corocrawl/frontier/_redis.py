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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import orjson
from yarl import URL

from .._exceptions import (
    BackendUnavailable,
    ConfigError,
    CrawlNotFound,
    FrontierClosed,
    FrontierError,
)
from .._models import SkipReason
from .._urls import host_key, host_partition
from ._base import Discovered, FrontierCounts, Leased

__all__ = ["CrawlStatus", "RedisFrontier", "WorkerStatus"]

logger = logging.getLogger("corocrawl")

T = TypeVar("T")

DEFAULT_PARTITIONS = 64
FIRST_CONNECT_WITHIN = 15.0
_GROUP = "crawlers"
_ADD_BATCH = 2000
_COUNTERS = ("added", "leased", "done", "failed", "skipped")

# KEYS: seen, counts, seeds, hosts, stream... ARGV: per request 7 fields (fingerprint, index of
# its stream in KEYS, url, depth, referrer, skip, host).
_ADD = """
local added = 0
for i = 1, #ARGV, 7 do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[tonumber(ARGV[i + 1])], '*', 'u', ARGV[i + 2], 'd', ARGV[i + 3],
               'r', ARGV[i + 4], 's', ARGV[i + 5], 'h', ARGV[i + 6])
    if ARGV[i + 3] == '0' then redis.call('RPUSH', KEYS[3], ARGV[i + 2]) end
    redis.call('HINCRBY', KEYS[4], ARGV[i + 6], 1)
    added = added + 1
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[2], 'added', added) end
return added
"""

# KEYS: counts, then (stream, its owner lease) pairs. ARGV: group, consumer, limit, then each
# stream's own limit. New entries of the streams this consumer still owns, in order.
_CLAIM = """
local out = {}
local remaining = tonumber(ARGV[3])
for i = 2, #KEYS, 2 do
  if remaining <= 0 then break end
  local count = math.min(remaining, tonumber(ARGV[3 + i / 2]))
  if count > 0 and redis.call('GET', KEYS[i + 1]) == ARGV[2] then
    local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', count,
                             'STREAMS', KEYS[i], '>')
    if reply then
      local entries = reply[1][2]
      remaining = remaining - #entries
      table.insert(out, {i, entries})
    end
  end
end
local claimed = tonumber(ARGV[3]) - remaining
if claimed > 0 then redis.call('HINCRBY', KEYS[1], 'leased', claimed) end
return out
"""

# KEYS: counts, hosts, stream... ARGV: group, then per request (stream index, entry id,
# outcome, host). Acknowledging twice counts once.
_COMPLETE = """
local finished = 0
for i = 2, #ARGV, 4 do
  local stream = KEYS[tonumber(ARGV[i])]
  if redis.call('XACK', stream, ARGV[1], ARGV[i + 1]) == 1 then
    redis.call('XDEL', stream, ARGV[i + 1])
    redis.call('HINCRBY', KEYS[1], ARGV[i + 2], 1)
    if redis.call('HINCRBY', KEYS[2], ARGV[i + 3], -1) <= 0 then
      redis.call('HDEL', KEYS[2], ARGV[i + 3])
    end
    finished = finished + 1
  end
end
if finished > 0 then redis.call('HINCRBY', KEYS[1], 'leased', -finished) end
return finished
"""

# KEYS: counts, stream... ARGV: group, then per request (stream index, entry id, url, depth,
# referrer, skip, host): queued again as new entries, for any worker to take.
_RELEASE = """
local released = 0
for i = 2, #ARGV, 7 do
  local stream = KEYS[tonumber(ARGV[i])]
  if redis.call('XACK', stream, ARGV[1], ARGV[i + 1]) == 1 then
    redis.call('XDEL', stream, ARGV[i + 1])
    redis.call('XADD', stream, '*', 'u', ARGV[i + 2], 'd', ARGV[i + 3], 'r', ARGV[i + 4],
               's', ARGV[i + 5], 'h', ARGV[i + 6])
    released = released + 1
  end
end
if released > 0 then redis.call('HINCRBY', KEYS[1], 'leased', -released) end
return released
"""

# KEYS: streams. ARGV: group, consumer. Forget the consumer where it holds nothing (deleting a
# consumer drops its pending entries, so one that still holds some is kept for a takeover).
_FORGET_CONSUMER = """
for i = 1, #KEYS do
  if #redis.call('XPENDING', KEYS[i], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[i], ARGV[1], ARGV[2])
  end
end
return 0
"""

# KEYS: leases. ARGV: worker id, ttl ms. The indexes (1-based) of the leases no longer ours.
_RENEW_ALL = """
local lost = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  else
    table.insert(lost, i)
  end
end
return lost
"""

# KEYS: candidate leases. ARGV: worker id, ttl ms, how many. The indexes of those taken.
_ACQUIRE = """
local taken = {}
for i = 1, #KEYS do
  if #taken >= tonumber(ARGV[3]) then break end
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then table.insert(taken, i) end
end
return taken
"""

_GIVE_UP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    id: str
    last_seen: float  # seconds ago
    partitions: int
    done: int


@dataclass(frozen=True, slots=True)
class CrawlStatus:
    counts: FrontierCounts
    queued_by_host: dict[str, int]
    workers: list[WorkerStatus]
    partitions: int

    @property
    def finished(self) -> bool:
        return self.counts.total > 0 and self.counts.pending == 0 and self.counts.leased == 0


@dataclass(slots=True)
class _Entry:
    partition: int
    entry_id: str
    host: str
    leased: Leased


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
        self._streams = [f"{prefix}q:{number}" for number in range(partitions)]
        self._owners = [f"{prefix}owner:{number}" for number in range(partitions)]
        self._add_script = client.register_script(_ADD)
        self._claim_script = client.register_script(_CLAIM)
        self._complete_script = client.register_script(_COMPLETE)
        self._release_script = client.register_script(_RELEASE)
        self._renew_script = client.register_script(_RENEW_ALL)
        self._acquire_script = client.register_script(_ACQUIRE)
        self._forget_consumer_script = client.register_script(_FORGET_CONSUMER)
        self._give_up_script = client.register_script(_GIVE_UP)
        self._owned: dict[int, bool] = {}  # partition -> still claiming from it (not draining)
        self._leases: dict[int, _Entry] = {}
        self._held: Counter[int] = Counter()  # leases of ours, by partition
        self._hold_per_partition = hold_per_partition
        self._known: set[tuple[int, str]] = set()
        self._offer: deque[Leased] = deque()
        self._ids = itertools.count(1)
        self._counts = FrontierCounts(0, 0, 0, 0, 0)
        self._done_here = 0
        self._rotation = 0
        self._target = partitions
        self._next_acquire = 0.0
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        crawl_id: str,
        *,
        worker_id: str | None = None,
        partitions: int = DEFAULT_PARTITIONS,
        heartbeat: float = 1.0,
        lease_ttl: float = 5.0,
        unavailable_after: float = 300.0,
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
            raise ConfigError(f"--frontier {_shown(url)!r}: {exc}") from None
        create = join if create is None else create
        try:
            stored = await _first_contact(client, url, crawl_id, connect_within, unavailable_after)
            if stored is None and not create:
                raise CrawlNotFound(
                    f"crawl {crawl_id!r} has not been started in {_shown(url)}: start it with "
                    f"'corocrawl crawl --frontier {_shown(url)} --crawl-id {crawl_id} SEED...'"
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
                await self._redis.xgroup_create(stream, _GROUP, id="0", mkstream=True)
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
                     item.skip or "", host]  # fmt: skip
        keys = [self._seen, self._counts_key, self._seeds_key, self._hosts_key]
        keys += [self._streams[number] for number in streams]
        added: int = await self._call(lambda: self._add_script(keys=keys, args=args))
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
            args = [_GROUP, self.worker_id, limit - len(claimed)]
            args += [max(0, self._hold_per_partition - self._held[number]) for number in order]
            reply = await self._call(lambda: self._claim_script(keys=keys, args=args))
            for index, entries in reply:
                number = order[(int(index) - 2) // 2]
                claimed += [self._lease(number, entry_id, fields) for entry_id, fields in entries]
        await self._refresh_counts()  # the whole crawl's: other workers move it too
        return claimed

    async def complete(
        self, done: Sequence[int], failed: Sequence[int] = (), skipped: Sequence[int] = ()
    ) -> None:
        self._check_open()
        streams: dict[int, int] = {}
        args: list[Any] = [_GROUP]
        forgotten: list[int] = []
        for outcome, ids in (("done", done), ("failed", failed), ("skipped", skipped)):
            for request_id in ids:
                entry = self._forget(request_id)
                if entry is None:
                    continue
                forgotten.append(entry.partition)
                index = streams.setdefault(entry.partition, 3 + len(streams))
                args += [index, entry.entry_id, outcome, entry.host]
                self._done_here += 1
        if len(args) == 1:
            return
        keys = [self._counts_key, self._hosts_key] + [self._streams[number] for number in streams]
        await self._call(lambda: self._complete_script(keys=keys, args=args))
        self._held.subtract(forgotten)
        await self._refresh_counts()

    async def release(self, ids: Sequence[int]) -> None:
        """Queue these again (at the end of their stream), for any worker to take."""
        self._check_open()
        streams: dict[int, int] = {}
        args: list[Any] = [_GROUP]
        forgotten: list[int] = []
        for request_id in sorted(ids):
            entry = self._forget(request_id)
            if entry is None:
                continue
            forgotten.append(entry.partition)
            leased = entry.leased
            index = streams.setdefault(entry.partition, 2 + len(streams))
            args += [index, entry.entry_id, leased.url, leased.depth, leased.referrer or "",
                     leased.skip or "", entry.host]  # fmt: skip
        if len(args) == 1:
            return
        released = set(ids)
        self._offer = deque(leased for leased in self._offer if leased.id not in released)
        keys = [self._counts_key] + [self._streams[number] for number in streams]
        await self._call(lambda: self._release_script(keys=keys, args=args))
        self._held.subtract(forgotten)
        await self._refresh_counts()

    def counts(self) -> FrontierCounts:
        return self._counts

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
        try:
            # Give the partitions up now: whoever takes one over claims what was left in it.
            for number in list(self._owned):
                await self._give_up_script(keys=[self._owners[number]], args=[self.worker_id])
            await self._redis.zrem(self._workers_key, self.worker_id)
            await self._redis.delete(self._worker_key(self.worker_id))
            if joined:  # each worker id is new: without this, consumers pile up over restarts
                await self._forget_consumer_script(
                    keys=self._streams, args=[_GROUP, self.worker_id]
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

    async def server_warnings(self) -> list[str]:
        """What in the Redis server's settings could lose requests."""
        import redis

        try:
            appendonly = await self._redis.config_get("appendonly")
            policy = await self._redis.config_get("maxmemory-policy")
        except redis.ResponseError:
            return ["cannot read the Redis configuration (CONFIG is disabled): make sure the "
                    "server has 'appendonly yes' and 'maxmemory-policy noeviction'"]  # fmt: skip
        warnings = []
        if appendonly.get("appendonly") != "yes":
            warnings.append(
                "Redis runs without 'appendonly yes': a restart of Redis loses the crawl's "
                "queue and seen-set"
            )
        if policy.get("maxmemory-policy", "noeviction") != "noeviction":
            warnings.append(
                f"Redis evicts keys under memory pressure (maxmemory-policy "
                f"{policy.get('maxmemory-policy')}): set 'noeviction', or requests will vanish"
            )
        return warnings

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
                    self._renew_script,
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
                        self._give_up_script, keys=[self._owners[number]], args=[self.worker_id]
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
                mapping={"partitions": len(self._owned), "done": self._done_here},
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
                self._acquire_script,
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
                partial(self._redis.xautoclaim, self._streams[number], _GROUP, self.worker_id,
                        self._lease_ms, start_id=cursor, count=500)
            )  # fmt: skip
            cursor, entries = reply[0], reply[1]
            for entry_id, fields in entries:
                if fields is None:
                    continue  # deleted meanwhile
                if (number, _text(entry_id)) not in self._known:
                    self._offer.append(self._lease(number, entry_id, fields))
            if _text(cursor) == "0-0":
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
        referrer, skip = _text(fields[b"r"]), _text(fields[b"s"])
        leased = Leased(
            next(self._ids),
            _text(fields[b"u"]),
            int(fields[b"d"]),
            referrer or None,
            SkipReason(skip) if skip else None,
        )
        entry = _Entry(number, _text(entry_id), _text(fields[b"h"]), leased)
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

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        return await _retrying(operation, self._unavailable_after)


async def _first_contact(
    client: Any, url: str, crawl_id: str, connect_within: float, unavailable_after: float
) -> bytes | None:
    """The crawl's partition count (None for a new crawl); errors name the server."""
    try:
        stored: bytes | None = await _retrying(
            lambda: client.hget(f"corocrawl:{{{crawl_id}}}:meta", "partitions"),
            unavailable_after,
            no_answer_within=connect_within,
        )
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"--frontier {_shown(url)}: {exc}") from None
    except FrontierError as exc:  # it answered, but not as a Redis server with that database
        raise ConfigError(f"--frontier {_shown(url)}: {exc}") from None
    return stored


async def _retrying(
    operation: Callable[[], Awaitable[T]],
    unavailable_after: float,
    *,
    no_answer_within: float | None = None,
) -> T:
    """Run one Redis operation, waiting out a Redis that is down, restarting, loading its data
    or failing over (with backoff, up to `unavailable_after` seconds; a server that gives no
    answer at all, up to `no_answer_within` if given). Every operation here can be repeated
    safely. An error that waiting cannot mend (a wrong password, an answer that is no
    Redis's, memory full) is a FrontierError at once."""
    import redis

    started, delay, warned = time.monotonic(), 0.1, False
    while True:
        try:
            return await operation()
        except redis.RedisError as exc:
            if not _worth_waiting_out(exc):
                raise FrontierError(f"Redis: {type(exc).__name__}: {exc}") from None
            waited = time.monotonic() - started
            answered = isinstance(exc, redis.BusyLoadingError | redis.ResponseError)
            limit = unavailable_after if answered or no_answer_within is None else no_answer_within
            if waited >= limit:
                raise BackendUnavailable(f"Redis unavailable for {limit:g}s: {exc}") from None
            if not warned:
                logger.warning("redis frontier: Redis unavailable (%s); retrying", exc)
                warned = True
            await asyncio.sleep(min(delay, max(limit - waited, 0.01)))
            delay = min(delay * 2, 5.0)


def _worth_waiting_out(exc: Exception) -> bool:
    """Whether waiting can mend this Redis error: down, restarting, loading, failing over."""
    import redis

    if isinstance(exc, redis.AuthenticationError | redis.exceptions.AuthorizationError):
        return False  # a ConnectionError, but no amount of waiting fixes a password
    return isinstance(
        exc,
        redis.ConnectionError
        | redis.TimeoutError
        | redis.exceptions.ReadOnlyError
        | redis.exceptions.TryAgainError
        | redis.exceptions.MasterDownError,
    )


def _shown(url: str) -> str:
    """The URL as it may be printed: without its password."""
    try:
        parsed = URL(url)
    except ValueError:
        return url
    return str(parsed.with_password("***")) if parsed.password else url


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
