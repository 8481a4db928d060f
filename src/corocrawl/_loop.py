"""Running a coroutine on the fastest event loop the platform has (uvloop where installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["new_event_loop", "run"]

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(
    main: Coroutine[Any, Any, T],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = new_event_loop,
) -> T:
    """Like asyncio.run, on uvloop when it is installed."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)
