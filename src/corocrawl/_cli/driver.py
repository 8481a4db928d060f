"""What the long-running commands share: Ctrl-C handling, exit codes, output errors."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Sequence

from .._exceptions import SinkError, WorkerError, first_of
from .._sinks import JsonlSink

__all__ = [
    "EXIT_INTERRUPTED",
    "INTERRUPT_FROM_PARENT",
    "Interrupts",
    "await_run",
    "close_sinks",
    "first_sink_error",
    "print_to_stderr",
]

EXIT_INTERRUPTED = 130


# How a shared crawl's parent process passes each Ctrl-C or SIGTERM it gets to its workers.
INTERRUPT_FROM_PARENT = signal.SIGUSR1


class Interrupts:
    """First Ctrl-C (or SIGTERM): finish what is in flight. Second Ctrl-C: abandon it.

    A worker process of a shared crawl listens to INTERRUPT_FROM_PARENT instead (`signals`)."""

    def __init__(
        self,
        *,
        stop: Callable[[], None],
        in_flight: Callable[[], int],
        run_task: asyncio.Task[None],
        say: Callable[[str], None],
        signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
    ) -> None:
        self._stop = stop
        self._in_flight = in_flight
        self._run_task = run_task
        self._say = say
        self._signals = tuple(signals)
        self.count = 0
        self.abandoned = False

    def __enter__(self) -> Interrupts:
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.add_signal_handler(signum, self._interrupt)
        # A worker started with them blocked takes them from here (see _cmd_distributed).
        signal.pthread_sigmask(signal.SIG_UNBLOCK, self._signals)
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.remove_signal_handler(signum)

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
