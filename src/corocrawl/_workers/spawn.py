"""The one way corocrawl starts processes: spawned, with Ctrl-C and SIGTERM left to the parent.

A child ignores SIGINT and SIGTERM, so however many processes a signal reaches (a terminal's
process group, `pkill`, systemd's whole cgroup), the child hears of it once, from its parent:
a `WorkerPool` tells its workers over their socket; `run_processes` passes each signal on as
INTERRUPT_FROM_PARENT. Children stay in the parent's process group, so none outlives a
hang-up of the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.resource_tracker
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

logger = logging.getLogger("corocrawl")

__all__ = [
    "EXIT_INTERRUPTED",
    "INTERRUPT_FROM_PARENT",
    "STOP_SIGNALS",
    "UNGUARDED_MAIN",
    "UNGUARDED_MAIN_HINT",
    "ProcessExits",
    "describe_exit",
    "run_processes",
    "start_process",
]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# A child of run_processes that dies this soon after starting, this many times in a row, is
# not replaced again (it cannot start: a bug, or the machine is out of memory).
QUICK_DEATH = 10.0
MAX_QUICK_DEATHS = 3
# The exit code of a process stopped by one of them, as a shell reports a Ctrl-C.
EXIT_INTERRUPTED = 130
# The exit code of a child that found its parent's script starting processes as it imports it.
UNGUARDED_MAIN = 3
UNGUARDED_MAIN_HINT = (
    "the script starts worker processes when it is imported, and a worker process imports it "
    'too: guard its entry point with `if __name__ == "__main__":`'
)
# How a parent passes each Ctrl-C or SIGTERM it gets on to the processes of `run_processes`.
INTERRUPT_FROM_PARENT = signal.SIGUSR1
_HELD = {*STOP_SIGNALS, INTERRUPT_FROM_PARENT}


def start_process(
    target: Callable[..., None], args: tuple[Any, ...], *, name: str, daemon: bool = False
) -> BaseProcess:
    """Start `target(*args)` in a spawned process that ignores Ctrl-C and SIGTERM."""
    process = _process(target, args, name=name, daemon=daemon)
    with _signals_held():
        process.start()
    return process


def _process(
    target: Callable[..., None], args: tuple[Any, ...], *, name: str, daemon: bool = False
) -> BaseProcess:
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # This is a spawned child importing its parent's script, and the script starts
        # processes as it is imported: it has no `if __name__ == "__main__":` guard. Say so
        # once, through the parent (UNGUARDED_MAIN), rather than with a traceback a child.
        os._exit(UNGUARDED_MAIN)
    return multiprocessing.get_context("spawn").Process(
        target=_child, args=(target, args), name=name, daemon=daemon
    )


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Stop signals wait while processes start, so that one meant for this process group
    cannot hit a child before it has set its own handlers (it unblocks them once it has),
    and that a handler forwarding them here runs only once every child has a pid."""
    # The resource tracker is started first: starting it unblocks them.
    multiprocessing.resource_tracker.ensure_running()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a signal held is handled now


def _child(target: Callable[..., None], args: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # INTERRUPT_FROM_PARENT keeps its default (ending the process) until the child listens
    # for it; a child that is told to stop before then holds nothing that could be lost.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    target(*args)


@dataclass(frozen=True, slots=True)
class ProcessExits:
    """How the processes of `run_processes` ended: their exit codes (negative: killed by
    that signal), and how many stop signals the parent passed on to them."""

    codes: tuple[int, ...]
    interrupts: int

    def interrupted_outside(self, code: int) -> bool:
        """Ended by a passed-on stop before it listened for one (starting up, or closing)."""
        return code == -INTERRUPT_FROM_PARENT and self.interrupts > 0


def run_processes(
    target: Callable[..., None], args: tuple[Any, ...], count: int, *, name: str
) -> ProcessExits:
    """Run `count` processes of `target(*args)` to their end.

    Each SIGINT or SIGTERM this process gets meanwhile is passed on to every child once, as
    INTERRUPT_FROM_PARENT: the first asks them to drain, the second to abandon, as in one
    process. A child killed by any other signal (the OOM killer, a kill -9) is reported and
    replaced, unless it died within QUICK_DEATH seconds of starting MAX_QUICK_DEATHS times in
    a row; a child that exits by itself, even with an error, is not (it said why).
    """
    interrupts = 0

    def forward(_signum: int, _frame: object) -> None:
        nonlocal interrupts
        interrupts += 1
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, INTERRUPT_FROM_PARENT)

    processes = [_process(target, args, name=f"{name}-{number}") for number in range(count)]
    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        with _signals_held():
            for process in processes:
                process.start()
        started = [time.monotonic()] * count
        quick_deaths = [0] * count
        running = set(range(count))
        while running:
            ended = multiprocessing.connection.wait([processes[i].sentinel for i in running])
            for number in [i for i in running if processes[i].sentinel in ended]:
                process = processes[number]
                process.join()
                code = process.exitcode or 0
                if code == UNGUARDED_MAIN:
                    logger.error("%s", UNGUARDED_MAIN_HINT)
                if code >= 0 or code == -INTERRUPT_FROM_PARENT or interrupts:
                    running.discard(number)
                    continue
                lived = time.monotonic() - started[number]
                quick_deaths[number] = quick_deaths[number] + 1 if lived < QUICK_DEATH else 0
                how = f"{process.name} (pid {process.pid}) died ({describe_exit(code)})"
                if quick_deaths[number] >= MAX_QUICK_DEATHS:
                    logger.warning("%s, %d times in a row: not replaced", how, MAX_QUICK_DEATHS)
                    running.discard(number)
                    continue
                logger.warning("%s; starting a replacement", how)
                processes[number] = _process(target, args, name=process.name)
                with _signals_held():
                    processes[number].start()
                started[number] = time.monotonic()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return ProcessExits(tuple(process.exitcode or 0 for process in processes), interrupts)


def describe_exit(exit_code: int) -> str:
    """A process's exit code in words: "exit code 1", "killed by SIGKILL"."""
    if exit_code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-exit_code).name}"
        return f"killed by signal {-exit_code}"
    return f"exit code {exit_code}"
