"""What worker processes run: a Job names the executor a worker builds and how its payloads
cross between processes; FetchJob is `fetch`'s. The process layer knows jobs, not crawling: a
crawl brings its own job.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar

from .._config import FetchConfig
from .._engine.engine import Engine
from .._models import ErrorInfo, FetchResult, Request
from .._stats import Stats

__all__ = ["Executor", "FetchJob", "Job", "pack_result", "share_of", "unpack_result"]

P = TypeVar("P")
P_co = TypeVar("P_co", covariant=True)


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

    def queued_by_host(self, top: int) -> list[tuple[str, int]]: ...

    async def run(
        self, requests: AsyncIterable[Request], emit: Callable[[P_co], Awaitable[None]]
    ) -> None: ...


class Job(Protocol[P]):
    """What a worker does with its requests, and how the coordinator reads what comes back.

    Payloads cross between processes as plain tuples (`pack`, then `unpack` with the original
    request): pickling dataclasses costs ten times as much, which a link-heavy crawl notices.
    `executor` runs in the worker process, the rest in both.
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
        return Engine(self.config.with_concurrency(concurrency))

    def pack(self, payload: FetchResult) -> tuple[Any, ...]:
        return pack_result(payload)

    def unpack(self, packed: tuple[Any, ...], request: Request) -> FetchResult:
        return unpack_result(packed, request)

    def result_of(self, payload: FetchResult) -> FetchResult:
        return payload

    def failure(self, request: Request, error: ErrorInfo) -> FetchResult:
        return FetchResult(request.url, request.position, error=error, request=request)

    def size_of(self, payload: FetchResult) -> int:
        return 1


_RESULT_FIELDS = tuple(
    field.name
    for field in fields(FetchResult)
    if field.name not in ("position", "error", "request", "body")
)


def pack_result(result: FetchResult, *, body: bool = True) -> tuple[Any, ...]:
    """A FetchResult as a tuple, with its body or not; its request stays behind, and is given
    back by `unpack`."""
    error = None if result.error is None else (result.error.type, result.error.message)
    kept = result.body if body else None
    return (error, kept, *[getattr(result, name) for name in _RESULT_FIELDS])


def unpack_result(packed: tuple[Any, ...], request: Request) -> FetchResult:
    error, body, *values = packed
    return FetchResult(
        **dict(zip(_RESULT_FIELDS, values, strict=True)),
        position=request.position,
        error=None if error is None else ErrorInfo(*error),
        body=body,
        request=request,
    )


def share_of(concurrency: int, workers: int) -> int:
    """Each worker's part of the total concurrency."""
    return max(1, math.ceil(concurrency / workers))
