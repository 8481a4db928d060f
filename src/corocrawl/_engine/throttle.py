"""Adaptive politeness: each host's delay follows its latency, and a host that answers 429 or
503 is slowed down at once and never again asked as fast as it was then.

AutoThrottle's idea (Scrapy): the delay that keeps `target` requests in flight on a host is
its latency divided by `target`. Towards a larger delay the host's delay moves halfway at
each response; towards a smaller one by at most a twentieth, so a host recovers gradually.
Pure decisions, no clock of its own: the engine passes `now` in.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["SLOW_DOWN_STATUSES", "Throttle"]

SLOW_DOWN_STATUSES = frozenset({429, 503})
_REMEMBERED_HOSTS = 100_000
_BACKOFF = 2.0  # a 429 doubles the delay...
_MARGIN = 1.25  # ...and its pace then, made 25% slower, is the least delay from then on
_RECOVERY = 0.95  # the most a delay shrinks at one response
_LEAST_BACKOFF = 0.1  # a 429 on a host with no delay yet starts it here (seconds)
_NEGLIGIBLE = 0.01  # an adaptive delay below this is not applied (seconds)
_EPISODE = 1.0  # 429s this soon after a slow-down are of the same episode (seconds)


@dataclass(slots=True)
class _Pace:
    delay: float
    floor: float
    last_response: float | None = None
    gap: float | None = None  # moving average of the time between responses
    slowed_at: float = float("-inf")


class Throttle:
    """Each host's adaptive delay, within [`least`, `most`] seconds."""

    def __init__(self, *, least: float, most: float, target: float, adaptive: bool = True) -> None:
        self._least = least
        self._most = most
        self._target = target
        self._adaptive = adaptive
        self._hosts: OrderedDict[str, _Pace] = OrderedDict()

    def delay(self, host: str) -> float:
        pace = self._hosts.get(host)
        return self._least if pace is None else pace.delay

    def observe(
        self, host: str, *, latency: float, status: int | None, now: float, started: float
    ) -> float:
        """Take a response (`status` None: no response) to a request sent at `started` in;
        return the host's new delay."""
        pace = self._pace(host)
        if pace.last_response is not None:
            gap = now - pace.last_response
            pace.gap = gap if pace.gap is None else 0.7 * pace.gap + 0.3 * gap
        pace.last_response = now
        if status in SLOW_DOWN_STATUSES:
            if started < pace.slowed_at or now < pace.slowed_at + _EPISODE:
                # Sent before the last slow-down, or refused by a limit that still counts
                # the requests from before it (a window of a second, most often): answered.
                return pace.delay
            # The pace of the responses is the pace the host refused: never again.
            too_fast = pace.delay if pace.gap is None else pace.gap
            pace.floor = min(self._most, max(pace.floor, too_fast * _MARGIN))
            pace.delay = min(self._most, max(pace.delay * _BACKOFF, pace.floor, _LEAST_BACKOFF))
            pace.slowed_at = now
            return pace.delay
        if not self._adaptive:
            return pace.delay
        wanted = latency / self._target
        if wanted > pace.delay:
            pace.delay = (pace.delay + wanted) / 2
        elif status is not None and status < 400:  # only a success may speed a host up
            pace.delay = max(wanted, pace.delay * _RECOVERY)
        pace.delay = min(self._most, max(pace.delay, pace.floor))
        if pace.delay < _NEGLIGIBLE:
            # A host this quick is not strained: spacing its requests would only cost a
            # timer a request. What a 429 taught (the floor) is kept all the same.
            return max(self._least, pace.floor)
        return pace.delay

    def _pace(self, host: str) -> _Pace:
        hosts = self._hosts
        pace = hosts.get(host)
        if pace is None:
            pace = hosts[host] = _Pace(self._least, self._least)
            if len(hosts) > _REMEMBERED_HOSTS:
                hosts.popitem(last=False)
        else:
            hosts.move_to_end(host)
        return pace
