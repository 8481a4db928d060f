"""Stopping a run on a signal: the first drains what is in flight, the second abandons it."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence

from .spawn import STOP_SIGNALS

__all__ = ["Interrupts"]


class Interrupts:
    """First Ctrl-C (or SIGTERM): finish what is in flight. Second Ctrl-C: abandon it.

        with Interrupts(stop=crawler.stop, in_flight=..., run_task=task, say=print):
            await task

    A process started by `run_processes` listens to INTERRUPT_FROM_PARENT instead (`signals`).
    """

    def __init__(
        self,
        *,
        stop: Callable[[], None],
        in_flight: Callable[[], int],
        run_task: asyncio.Task[None],
        say: Callable[[str], None],
        signals: Sequence[signal.Signals] = STOP_SIGNALS,
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
        # A process started with them blocked takes them from here (see spawn).
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
