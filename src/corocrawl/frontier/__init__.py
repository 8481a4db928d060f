"""Frontier backends behind one interface: memory, and SQLite (survives kill -9)."""

from ._base import Discovered, Frontier, FrontierCounts, Leased
from ._memory import MemoryFrontier
from ._sqlite import SqliteFrontier

__all__ = [
    "Discovered",
    "Frontier",
    "FrontierCounts",
    "Leased",
    "MemoryFrontier",
    "SqliteFrontier",
]
