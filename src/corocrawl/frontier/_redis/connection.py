"""How the Redis frontier talks to Redis: the first contact, and waiting out what can be waited
out (a restart, loading, a failover) while failing at once on what cannot (a password)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from yarl import URL

from ..._exceptions import BackendUnavailable, ConfigError, FrontierError

__all__ = ["FIRST_CONNECT_WITHIN", "first_contact", "retrying", "server_warnings", "shown", "text"]

logger = logging.getLogger("corocrawl")

T = TypeVar("T")

FIRST_CONNECT_WITHIN = 15.0


async def first_contact(
    client: Any, url: str, crawl_id: str, connect_within: float, unavailable_after: float
) -> bytes | None:
    """The crawl's partition count (None for a new crawl); errors name the server."""
    try:
        stored: bytes | None = await retrying(
            lambda: client.hget(f"corocrawl:{{{crawl_id}}}:meta", "partitions"),
            unavailable_after,
            no_answer_within=connect_within,
        )
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"--frontier {shown(url)}: {exc}") from None
    except FrontierError as exc:  # it answered, but not as a Redis server with that database
        raise ConfigError(f"--frontier {shown(url)}: {exc}") from None
    return stored


async def retrying(
    operation: Callable[[], Awaitable[T]],
    unavailable_after: float,
    *,
    no_answer_within: float | None = None,
    stop_waiting: asyncio.Event | None = None,
) -> T:
    """Run one Redis operation, waiting out a Redis that is down, restarting, loading its data
    or failing over (with backoff, up to `unavailable_after` seconds; a server that gives no
    answer at all, up to `no_answer_within` if given), or until `stop_waiting` is set (a
    Ctrl-C). Every operation here can be repeated safely. An error that waiting cannot mend
    (a wrong password, an answer that is no Redis's, memory full) is a FrontierError at once."""
    import redis

    started, delay, warned = time.monotonic(), 0.1, False
    while True:
        try:
            return await operation()
        except redis.RedisError as exc:
            if not worth_waiting_out(exc):
                raise FrontierError(f"Redis: {type(exc).__name__}: {exc}") from None
            waited = time.monotonic() - started
            answered = isinstance(exc, redis.BusyLoadingError | redis.ResponseError)
            limit = unavailable_after if answered or no_answer_within is None else no_answer_within
            if waited >= limit:
                raise BackendUnavailable(f"Redis unavailable for {limit:g}s: {exc}") from None
            if stop_waiting is not None and stop_waiting.is_set():
                raise BackendUnavailable(
                    f"Redis unavailable ({exc}); stopped waiting for it: the worker was told "
                    "to stop"
                ) from None
            if not warned:
                logger.warning("redis frontier: Redis unavailable (%s); retrying", exc)
                warned = True
            pause = min(delay, max(limit - waited, 0.01))
            if stop_waiting is None:
                await asyncio.sleep(pause)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_waiting.wait(), pause)
            delay = min(delay * 2, 5.0)


def worth_waiting_out(exc: Exception) -> bool:
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


def shown(url: str) -> str:
    """The URL as it may be printed: without its password."""
    try:
        parsed = URL(url)
    except ValueError:
        return url
    return str(parsed.with_password("***")) if parsed.password else url


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def server_warnings(client: Any) -> list[str]:
    """What in the Redis server's settings could lose requests."""
    import redis

    try:
        appendonly = await client.config_get("appendonly")
        policy = await client.config_get("maxmemory-policy")
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
