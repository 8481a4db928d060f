"""What a fetch tells a recrawl: the page's Visit, and whether it changed since the last one.

A page is unchanged when the server answers a conditional request with 304 Not Modified, or
when it sends the same status and a body with the same sha1 as last time (a server without
validators, or one that ignores them). Its next interval follows Revisit: halved when it
changed, doubled when not.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from .._config import Revisit
from .._models import FetchResult, Visit

__all__ = ["CHANGED", "UNCHANGED", "RecrawlTally", "visit_of"]

NOT_MODIFIED = 304
CHANGED, UNCHANGED = "changed", "unchanged"


def visit_of(result: FetchResult, revisit: Revisit) -> tuple[Visit | None, dict[str, Any] | None]:
    """The Visit the frontier keeps of this result (None when nothing was fetched), and, for a
    revisit, what the record says of it: `{"change", "by", "interval"}`."""
    if result.skip is not None:
        return None, None
    request = result.request
    previous = None if request is None else request.previous
    now = time.time()
    if result.status is None:  # no response: tried again after the same interval
        if previous is None:
            return Visit(None, None, None, None, now, revisit.after), None
        return previous._replace(fetched_at=now), None
    headers = result.headers
    etag, last_modified = headers.get("etag"), headers.get("last-modified")
    if previous is not None and result.status == NOT_MODIFIED:
        # The page as it was: its status and digests stay; the server may renew validators.
        interval = revisit.next_interval(previous.interval, changed=False)
        validators = (etag or previous.etag, last_modified or previous.last_modified)
        visit = Visit(previous.status, *validators, previous.digest, now, interval,
                      previous.payload)  # fmt: skip
        return visit, {"change": UNCHANGED, "by": "not-modified", "interval": interval}
    digest = None if result.body is None else hashlib.sha1(result.body).hexdigest()
    exchanges = result.exchanges
    payload = hashlib.sha1(exchanges[-1].body).hexdigest() if exchanges else None
    if previous is None:
        visit = Visit(result.status, etag, last_modified, digest, now, revisit.after, payload)
        return visit, None
    same = previous.status == result.status and digest is not None and digest == previous.digest
    interval = revisit.next_interval(previous.interval, changed=not same)
    visit = Visit(result.status, etag, last_modified, digest, now, interval, payload)
    if same:
        return visit, {"change": UNCHANGED, "by": "digest", "interval": interval}
    return visit, {"change": CHANGED, "by": None, "interval": interval}


@dataclass(slots=True)
class RecrawlTally:
    """What a recrawl found: pages `due` (queued again), and of those revisited, how many
    `changed`, or were unchanged by a 304 (`not_modified`) or by their digest (`same`)."""

    due: int = 0
    changed: int = 0
    not_modified: int = 0
    same: int = 0

    def count(self, change: dict[str, Any]) -> None:
        if change["change"] == CHANGED:
            self.changed += 1
        elif change["by"] == "not-modified":
            self.not_modified += 1
        else:
            self.same += 1

    def as_dict(self) -> dict[str, int]:
        return {"due": self.due, "changed": self.changed, "not_modified": self.not_modified,
                "same_digest": self.same}  # fmt: skip

    def line(self) -> str:
        unchanged = self.not_modified + self.same
        revisited = self.changed + unchanged
        return (
            f"  recrawl: {self.due:,} came due; revisited {revisited:,}: {self.changed:,} "
            f"changed, {unchanged:,} unchanged ({self.not_modified:,} by 304, {self.same:,} by "
            "their digest)"
        )
