"""A frontier in RAM: for fetches of a list and small crawls. Gone when the process ends."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping, Sequence

from ._base import Discovered, FrontierCounts, Leased, Visit

__all__ = ["MemoryFrontier"]


class MemoryFrontier:
    """The Frontier interface in memory; its seen-set grows with the crawl (16 bytes a URL
    plus set overhead), so large or long crawls belong in the SQLite frontier. It keeps no
    visits: a recrawl needs a frontier that outlives its process."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        self._pending: deque[Leased] = deque()
        self._leased: dict[int, Leased] = {}
        self._ids = itertools.count(1)
        self._done = 0
        self._failed = 0
        self._skipped = 0
        self._seeds: list[str] = []
        self._output_lengths: dict[str, int] = {}

    async def add(self, discovered: Sequence[Discovered]) -> int:
        added = 0
        for item in discovered:
            if item.fingerprint in self._seen:
                continue
            self._seen.add(item.fingerprint)
            if item.depth == 0:
                self._seeds.append(item.url)
            self._pending.append(
                Leased(
                    next(self._ids),
                    item.url,
                    item.depth,
                    item.referrer,
                    item.skip,
                    item.host_depth,
                    item.sitemap,
                )
            )
            added += 1
        return added

    async def claim(self, limit: int) -> list[Leased]:
        claimed: list[Leased] = []
        while self._pending and len(claimed) < limit:
            request = self._pending.popleft()
            self._leased[request.id] = request
            claimed.append(request)
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
        self._output_lengths.update(outputs or {})
        self._done += self._finish(done)
        self._failed += self._finish(failed)
        self._skipped += self._finish(skipped)

    def _finish(self, ids: Sequence[int]) -> int:
        return sum(self._leased.pop(request_id, None) is not None for request_id in ids)

    async def release(self, ids: Sequence[int]) -> None:
        for request_id in sorted(ids, reverse=True):
            request = self._leased.pop(request_id, None)
            if request is not None:
                self._pending.appendleft(request)

    async def revisit(self, now: float) -> int:
        return 0

    async def seeds(self) -> list[str]:
        return list(self._seeds)

    async def output_lengths(self) -> dict[str, int]:
        return dict(self._output_lengths)

    def counts(self) -> FrontierCounts:
        return FrontierCounts(
            len(self._pending), len(self._leased), self._done, self._failed, self._skipped
        )

    async def close(self) -> None:
        self._pending.clear()
        self._leased.clear()
