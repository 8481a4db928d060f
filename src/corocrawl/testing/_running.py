"""What the test servers and proxies share: started and stopped by a `with` block."""

from __future__ import annotations

import subprocess
from types import TracebackType
from typing import Any, Self

__all__ = ["Running", "end_process"]


def end_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 5 s; reaped either way."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Running:
    """A helper that runs beside the tests: `start()` on entering a `with` block, `stop()` on
    leaving it, however it is left."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
