"""The frontier's interface: what a crawl has found, what is pending, in flight, and final."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from .._models import SkipReason, Visit

__all__ = ["Discovered", "Frontier", "FrontierCounts", "Leased", "Visit"]


class Discovered(NamedTuple):
    """A URL found by the crawl, to be fetched, or recorded with `skip` as the reason not to.

    `host_depth` counts the links followed within its host since the crawl entered the host
    (0 for a seed, a link from another host, or a URL a sitemap lists). `sitemap` is 0 for a
    page; a sitemap has its nesting level: 1 when named by robots.txt (or /sitemap.xml), one
    more for each sitemap index above it.

    A named tuple, not a dataclass: a crawl makes one per link, and worker processes send
    them by the thousand (a tuple is built and pickled several times faster).
    """

    fingerprint: bytes
    url: str
    depth: int
    referrer: str | None = None
    skip: SkipReason | None = None
    host_depth: int = 0
    sitemap: int = 0


@dataclass(frozen=True, slots=True)
class Leased:
    """A request handed out by `claim()`: its id is what `complete()` takes back; the other
    fields are its Discovered's, and `previous` is what its last fetch saw when it is a
    revisit (see `Frontier.revisit`)."""

    id: int
    url: str
    depth: int
    referrer: str | None
    skip: SkipReason | None
    host_depth: int = 0
    sitemap: int = 0
    previous: Visit | None = None


@dataclass(frozen=True, slots=True)
class FrontierCounts:
    """Requests by state: `done` and `failed` were fetched; `skipped` were recorded unfetched."""

    pending: int
    leased: int
    done: int
    failed: int
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.leased + self.done + self.failed + self.skipped


class Frontier(Protocol):
    """Where a crawl's requests live between discovery and their final record.

    Every URL added once ends in exactly one final state (done, failed or skipped), whatever happens
    in between: `add` marks a URL seen and queues it in one step, so a crash never separates
    the two; `claim` leases pending requests; `complete` is called only after a request's
    record is safely written; `release` puts leases back (a clean stop). A backend that
    survives a crash gives the leases it held at the crash back to pending when reopened.
    "Empty" means no pending request; the crawl is finished when nothing is pending or leased.
    """

    async def add(self, discovered: Sequence[Discovered]) -> int:
        """Queue the URLs not seen before (by fingerprint); return how many were new."""
        ...

    async def claim(self, limit: int) -> list[Leased]:
        """Lease up to `limit` pending requests, oldest first; [] when none is pending."""
        ...

    async def complete(
        self,
        done: Sequence[int],
        failed: Sequence[int] = (),
        skipped: Sequence[int] = (),
        *,
        outputs: Mapping[str, int] | None = None,
        visits: Mapping[int, Visit] | None = None,
    ) -> None:
        """Mark leased requests final, after their records are written.

        `outputs` (an output file's path: its length once those records are in it) is kept in
        the same step, so a resumed crawl can cut each file back to the length that matches
        the requests marked final: records written after that are redone, never doubled.
        `visits` (by request id, for fetched ones) are kept with them, for `revisit`; the
        memory frontier keeps none."""
        ...

    async def revisit(self, now: float) -> int:
        """Queue again every fetched request whose visit is due by `now` (its fetch time plus
        its interval), each claimed with its Visit as `previous`; return how many."""
        ...

    async def output_lengths(self) -> dict[str, int]:
        """The lengths last passed to `complete`, by path ({} if never, or not kept)."""
        ...

    async def release(self, ids: Sequence[int]) -> None:
        """Give leased requests back to pending."""
        ...

    def counts(self) -> FrontierCounts:
        """Where every request stands now (kept in memory: cheap to call often)."""
        ...

    async def seeds(self) -> list[str]:
        """The URLs added at depth 0: a resumed crawl takes its scope from them."""
        ...

    async def close(self) -> None: ...
