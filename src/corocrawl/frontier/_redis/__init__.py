"""The Redis frontier: `core` (the Frontier methods, partition leases and the heartbeat),
`scripts` (its Lua), `connection` (first contact, waiting out outages), `status`."""

from .core import DEFAULT_HEARTBEAT, DEFAULT_OUTAGE_LIMIT, RedisFrontier
from .status import CrawlStatus, WorkerStatus

__all__ = [
    "DEFAULT_HEARTBEAT",
    "DEFAULT_OUTAGE_LIMIT",
    "CrawlStatus",
    "RedisFrontier",
    "WorkerStatus",
]
