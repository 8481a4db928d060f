"""What the long-running commands share: Ctrl-C handling, exit codes, output errors."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

from ._exceptions import SinkError, WorkerError, first_of
from ._sinks import JsonlSink

__all__ = [
    "EXIT_INTERRUPTED",
    "Interrupts",
    "await_run",
    "close_sinks",
    "first_sink_error",
    "print_to_stderr",
]

EXIT_INTERRUPTED = 130


class Interrupts:
    """First Ctrl-C (or SIGTERM): finish what is in flight. Second Ctrl-C: abandon it."""

    def __init__(
        self,
        *,
        stop: Callable[[], None],
        in_flight: Callable[[], int],
        run_task: asyncio.Task[None],
        say: Callable[[str], None],
    ) -> None:
        self._stop = stop
        self._in_flight = in_flight
        self._run_task = run_task
        self._say = say
        self.count = 0
        self.abandoned = False

    def __enter__(self) -> Interrupts:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._interrupt)
        loop.add_signal_handler(signal.SIGTERM, self._interrupt)
        # A process started with them blocked (a shared crawl's worker) takes them from here.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)

    def _interrupt(self) -> None:
        self.count += 1
        if self.count == 1:
            in_flight = self._in_flight()
            self._say(
                f"stopping: finishing {in_flight} requests in flight (Ctrl-C again to abandon them)"
            )
            self._stop()
        elif not self.abandoned:
            self._say("abandoning the requests in flight")
            self.abandoned = True
            self._run_task.cancel()


async def await_run(run_task: asyncio.Task[None], interrupts: Interrupts) -> SinkError | None:
    """Wait for the run. A second Ctrl-C ends it quietly; an output that failed is returned
    (the caller still closes what it can); anything else is raised."""
    try:
        await run_task
    except asyncio.CancelledError:
        if not interrupts.abandoned:
            raise
    except ExceptionGroup as group:
        return first_sink_error(group)
    return None


def close_sinks(*sinks: JsonlSink | None) -> SinkError | None:
    """Close every sink, even after one fails; return the first failure."""
    failure = None
    for sink in sinks:
        if sink is not None:
            try:
                sink.close()
            except SinkError as exc:
                failure = failure or exc
    return failure


def first_sink_error(group: ExceptionGroup[Exception]) -> SinkError:
    """A failed output ends the run loudly; a failed worker is raised as itself; anything else
    in the group is a bug: re-raise it."""
    sink_error = first_of(group, SinkError)
    if sink_error is not None:
        return sink_error
    worker_error = first_of(group, WorkerError)
    if worker_error is not None:
        raise worker_error from None
    raise group


def print_to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
