"""Deadlines: one ticking task cancels the watched tasks whose deadline has passed.

Real asyncio tasks and short sleeps; the tests look at outcomes (cancelled or not), never at
how long anything took. The generous waits only keep a broken ticker from hanging the run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from corocrawl._engine.deadlines import Deadline, Deadlines

RESOLUTION = 0.01
SAFETY_NET = 5.0  # only bounds a hang when the code is broken; never asserted on


@pytest.fixture
async def deadlines() -> AsyncIterator[Deadlines]:
    deadlines = Deadlines(resolution=RESOLUTION)
    ticker = asyncio.create_task(deadlines.run())
    yield deadlines
    ticker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticker


async def finish(task: asyncio.Task[str]) -> None:
    """Wait for `task`; if the safety net runs out first, cancel it and fail."""
    done, _ = await asyncio.wait({task}, timeout=SAFETY_NET)
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        pytest.fail("the watched task neither finished nor was cancelled by its deadline")


async def guarded(deadlines: Deadlines, seconds: float, work: float) -> str:
    """The documented pattern: watch, work, tell a deadline from any other cancellation."""
    deadline = deadlines.watch(seconds)
    try:
        await asyncio.sleep(work)
    except asyncio.CancelledError:
        if not deadlines.expired(deadline):
            raise
        return "timed out"
    finally:
        deadlines.unwatch(deadline)
    return "finished"


async def test_task_that_outlives_its_deadline_is_cancelled_and_expired_is_true(
    deadlines: Deadlines,
) -> None:
    seen: list[bool] = []

    async def worker() -> str:
        deadline = deadlines.watch(0.02)
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append(deadlines.expired(deadline))
            # The cancellation was taken back: the task may go on awaiting.
            await asyncio.sleep(0.001)
            return "timed out"
        finally:
            deadlines.unwatch(deadline)
        return "finished"

    task = asyncio.create_task(worker())
    await finish(task)
    assert seen == [True]
    assert not task.cancelled()
    assert task.result() == "timed out"


async def test_task_that_finishes_before_its_deadline_is_not_cancelled(
    deadlines: Deadlines,
) -> None:
    task = asyncio.create_task(guarded(deadlines, seconds=30.0, work=0.05))
    await finish(task)
    assert not task.cancelled()
    assert task.result() == "finished"


async def test_unwatched_task_is_not_cancelled_by_the_ticker(deadlines: Deadlines) -> None:
    async def worker() -> str:
        deadline = deadlines.watch(RESOLUTION)
        deadlines.unwatch(deadline)
        await asyncio.sleep(RESOLUTION * 10)  # many ticks past the deadline it had
        return "finished"

    task = asyncio.create_task(worker())
    await finish(task)
    assert task.result() == "finished"


async def test_unwatch_twice_and_after_firing_is_harmless(deadlines: Deadlines) -> None:
    task = asyncio.create_task(guarded(deadlines, seconds=0.02, work=60))
    await finish(task)
    assert task.result() == "timed out"

    async def worker() -> str:
        deadline = deadlines.watch(30.0)
        deadlines.unwatch(deadline)
        deadlines.unwatch(deadline)
        await asyncio.sleep(0.01)
        return "finished"

    second = asyncio.create_task(worker())
    await finish(second)
    assert second.result() == "finished"


async def test_only_the_tasks_past_their_deadline_are_cancelled(deadlines: Deadlines) -> None:
    short = [asyncio.create_task(guarded(deadlines, seconds=0.02, work=60)) for _ in range(5)]
    long = [asyncio.create_task(guarded(deadlines, seconds=30.0, work=0.1)) for _ in range(5)]
    for task in short + long:
        await finish(task)
    assert [task.result() for task in short] == ["timed out"] * 5
    assert [task.result() for task in long] == ["finished"] * 5


async def test_outside_cancellation_without_deadline_is_not_expired(
    deadlines: Deadlines,
) -> None:
    started = asyncio.Event()
    seen: list[bool] = []

    async def worker() -> str:
        deadline = deadlines.watch(30.0)
        try:
            started.set()
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append(deadlines.expired(deadline))
            raise
        finally:
            deadlines.unwatch(deadline)
        return "finished"

    task = asyncio.create_task(worker())
    await started.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert seen == [False]
    assert task.cancelled()


async def test_outside_cancellation_stands_when_the_deadline_also_fired(
    deadlines: Deadlines,
) -> None:
    watched: list[Deadline] = []
    seen: list[bool] = []

    async def worker() -> str:
        deadline = deadlines.watch(0.02)
        watched.append(deadline)
        try:
            await asyncio.Event().wait()  # never set: only a cancellation ends it
        except asyncio.CancelledError:
            seen.append(deadlines.expired(deadline))
            raise
        finally:
            deadlines.unwatch(deadline)
        return "finished"

    async def canceller(task: asyncio.Task[str]) -> None:
        # Spin on the loop and cancel the worker in the very iteration after the ticker has
        # cancelled it, before the worker has run: both cancellations reach it together.
        while not watched[0].expired:  # noqa: ASYNC110 - no Event to wait on, by design
            await asyncio.sleep(0)
        task.cancel()

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)  # let the worker start watching
    outside = asyncio.create_task(canceller(task))
    done, _ = await asyncio.wait({task, outside}, timeout=SAFETY_NET)
    if len(done) < 2:
        for pending in (task, outside):
            pending.cancel()
        pytest.fail("the deadline never fired")
    assert watched[0].expired  # the deadline did fire...
    assert seen == [False]  # ...but expired() leaves the outside cancellation standing
    assert task.cancelled()


async def test_watch_outside_a_task_raises_runtime_error() -> None:
    deadlines = Deadlines(resolution=RESOLUTION)
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[BaseException | None] = loop.create_future()

    def callback() -> None:
        try:
            deadlines.watch(1.0)
        except RuntimeError as exc:
            outcome.set_result(exc)
        else:
            outcome.set_result(None)

    loop.call_soon(callback)
    error = await outcome
    assert isinstance(error, RuntimeError)
    assert "task" in str(error)
