"""What `corocrawl status` shows of a shared crawl."""

from __future__ import annotations

from dataclasses import dataclass

from .._base import FrontierCounts

__all__ = ["CrawlStatus", "WorkerStatus"]


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One live worker: when it was last heard from, its partitions, its records written, and
    the fetches it is running (at its last heartbeat)."""

    id: str
    last_seen: float  # seconds ago
    partitions: int
    done: int
    fetching: int = 0


@dataclass(frozen=True, slots=True)
class CrawlStatus:
    """The whole crawl's counts, the queued requests by host, and its live workers."""

    counts: FrontierCounts
    queued_by_host: dict[str, int]
    workers: list[WorkerStatus]
    partitions: int

    @property
    def fetching(self) -> int:
        """Fetches running now, in every live worker (`counts.leased` are those claimed)."""
        return sum(worker.fetching for worker in self.workers)

    @property
    def finished(self) -> bool:
        return self.counts.total > 0 and self.counts.pending == 0 and self.counts.leased == 0
