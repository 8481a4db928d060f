"""The Redis frontier: `core` (the Frontier methods, partition leases and the heartbeat),
`scripts` (its Lua), `connection` (first contact, waiting out outages), `status`."""

from .core import RedisFrontier
from .status import CrawlStatus, WorkerStatus

__all__ = ["CrawlStatus", "RedisFrontier", "WorkerStatus"]
