"""What the test servers and proxies share: started and stopped by a `with` block."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Running"]


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
