"""Frontier backends behind one interface: memory, SQLite (survives kill -9), and Redis
(shared by workers on many machines); `open_frontier(url)` picks one by its URL."""

from ._base import Discovered, Frontier, FrontierCounts, Leased, Visit
from ._memory import MemoryFrontier
from ._open import BACKENDS, open_frontier
from ._redis import (
    DEFAULT_HEARTBEAT,
    DEFAULT_OUTAGE_LIMIT,
    CrawlStatus,
    RedisFrontier,
    WorkerStatus,
)
from ._sqlite import SqliteFrontier

__all__ = [
    "BACKENDS",
    "DEFAULT_HEARTBEAT",
    "DEFAULT_OUTAGE_LIMIT",
    "CrawlStatus",
    "Discovered",
    "Frontier",
    "FrontierCounts",
    "Leased",
    "MemoryFrontier",
    "RedisFrontier",
    "SqliteFrontier",
    "Visit",
    "WorkerStatus",
    "open_frontier",
]
