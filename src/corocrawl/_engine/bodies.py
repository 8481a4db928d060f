"""Response bodies saved to files named by their SHA-256, so identical bodies are stored once."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .._exceptions import SinkError

__all__ = ["BodyStore"]


class BodyStore:
    """Writes bodies as DIR/ab/abcdef… files; a file appears whole or not at all."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._made: set[str] = set()

    def save(self, body: bytes) -> str:
        """Store `body` (blocking: call it from a thread) and return its path; SinkError if it
        cannot be written (a full disk): that ends the run, as a failed output does."""
        try:
            return self._save(body)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise SinkError(f"cannot save a body in {str(self._directory)!r}: {reason}") from None

    def _save(self, body: bytes) -> str:
        digest = hashlib.sha256(body).hexdigest()
        shard = digest[:2]
        folder = self._directory / shard
        path = folder / digest
        if shard not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(shard)
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(body)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return str(path)
