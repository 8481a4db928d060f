"""A frontier in one SQLite file: survives kill -9, and keeps its seen-set on disk.

Every request is one row, keyed by the 16-byte fingerprint of its canonical URL (a unique
index: "seen" and "queued" are one insert, so a crash can never separate them). The file is in
WAL mode, so a killed process leaves it consistent. All SQLite work runs on one thread of its
own, batched in transactions, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from .._exceptions import BackendUnavailable, ConfigError, FrontierClosed, FrontierError
from .._models import SkipReason
from ._base import Discovered, FrontierCounts, Leased, Visit

__all__ = ["SqliteFrontier"]

T = TypeVar("T")
PENDING, LEASED, DONE, FAILED, SKIPPED = 0, 1, 2, 3, 4
_CHUNK = 500  # ids per statement, under SQLite's limit on bound parameters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    fingerprint BLOB NOT NULL UNIQUE,
    url TEXT NOT NULL,
    depth INTEGER NOT NULL,
    referrer TEXT,
    skip TEXT,
    state INTEGER NOT NULL DEFAULT 0,
    host_depth INTEGER NOT NULL DEFAULT 0,
    sitemap INTEGER NOT NULL DEFAULT 0,
    status INTEGER,
    etag TEXT,
    last_modified TEXT,
    digest TEXT,
    fetched_at REAL,
    interval REAL,
    payload TEXT
);
CREATE INDEX IF NOT EXISTS requests_by_state ON requests (state, id);
CREATE TABLE IF NOT EXISTS outputs (
    path TEXT PRIMARY KEY,
    length INTEGER NOT NULL
);
"""


_ADDED_COLUMNS = {
    "host_depth": "INTEGER NOT NULL DEFAULT 0",
    "sitemap": "INTEGER NOT NULL DEFAULT 0",
    "status": "INTEGER",
    "etag": "TEXT",
    "last_modified": "TEXT",
    "digest": "TEXT",
    "fetched_at": "REAL",
    "interval": "REAL",
    "payload": "TEXT",
}
_VISIT = "status, etag, last_modified, digest, fetched_at, interval, payload"


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """A state file made by an older corocrawl gains the columns added since (its requests
    taking their defaults), so its crawl resumes."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(requests)")}
    for column, kind in _ADDED_COLUMNS.items():
        if column not in present:
            connection.execute(f"ALTER TABLE requests ADD COLUMN {column} {kind}")


class SqliteFrontier:
    """The Frontier interface on a SQLite file. Open it with `await SqliteFrontier.open(path)`;
    one crawl at a time may hold a file (it is locked while open, whatever name it is opened by)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="corocrawl-sqlite"
        )
        self._connection: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._counts = {PENDING: 0, LEASED: 0, DONE: 0, FAILED: 0, SKIPPED: 0}
        self.resumed = False

    @classmethod
    async def open(cls, path: str | Path) -> SqliteFrontier:
        frontier = cls(Path(path))
        try:
            await frontier._run(frontier._open)
        except BaseException:
            await frontier.close()
            raise
        return frontier

    async def add(self, discovered: Sequence[Discovered]) -> int:
        if not discovered:
            return 0
        return await self._run(self._add, discovered)

    async def claim(self, limit: int) -> list[Leased]:
        if self._counts[PENDING] == 0:
            return []
        return await self._run(self._claim, limit)

    async def complete(
        self,
        done: Sequence[int],
        failed: Sequence[int] = (),
        skipped: Sequence[int] = (),
        *,
        outputs: Mapping[str, int] | None = None,
        visits: Mapping[int, Visit] | None = None,
    ) -> None:
        if done or failed or skipped or outputs:
            ids_by_state = {DONE: done, FAILED: failed, SKIPPED: skipped}
            await self._run(self._complete, ids_by_state, dict(outputs or {}), visits or {})

    async def revisit(self, now: float) -> int:
        return await self._run(self._revisit, now)

    async def output_lengths(self) -> dict[str, int]:
        return await self._run(self._output_lengths)

    async def release(self, ids: Sequence[int]) -> None:
        if ids:
            await self._run(self._move, ids, LEASED, PENDING)

    async def seeds(self) -> list[str]:
        return await self._run(self._seeds)

    def counts(self) -> FrontierCounts:
        counts = self._counts
        return FrontierCounts(
            counts[PENDING], counts[LEASED], counts[DONE], counts[FAILED], counts[SKIPPED]
        )

    async def close(self) -> None:
        if self._connection is not None:
            await self._run(self._close)
        self._executor.shutdown(wait=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _run(self, work: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, work, *args)
        except RuntimeError as exc:  # the executor was shut down
            raise FrontierClosed(f"the frontier {self.path} is closed") from exc
        except sqlite3.Error as exc:
            raise FrontierError(f"state file {self.path}: {exc}") from exc

    # Everything below runs on the frontier's own thread.

    def _open(self) -> None:
        # The lock is on the file itself, not on its name: a symlink or a hard link to a state
        # file in use is refused too (a hard link would even give SQLite a second WAL). It is
        # an flock, apart from SQLite's own POSIX locks, and this descriptor is closed only
        # after SQLite has closed the file.
        try:
            self._lock_fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"cannot use state file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"state file {self.path} is in use by another crawl (under this name or another)"
            ) from None
        self.resumed = self.path.exists() and self.path.stat().st_size > 0
        try:
            connection = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"cannot open state file {self.path}: {exc}") from None
        self._connection = connection
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(_SCHEMA)
        _add_missing_columns(connection)
        # Whatever was leased when the last run died was never recorded: it is pending again.
        connection.execute("UPDATE requests SET state = ? WHERE state = ?", (PENDING, LEASED))
        for state, count in connection.execute(
            "SELECT state, COUNT(*) FROM requests GROUP BY state"
        ):
            self._counts[state] = count

    def _add(self, discovered: Sequence[Discovered]) -> int:
        connection = self._live()
        before = connection.total_changes
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT OR IGNORE INTO requests "
                "(fingerprint, url, depth, referrer, skip, host_depth, sitemap) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (d.fingerprint, d.url, d.depth, d.referrer, d.skip, d.host_depth, d.sitemap)
                    for d in discovered
                ],
            )
        added = connection.total_changes - before
        self._counts[PENDING] += added
        return added

    def _claim(self, limit: int) -> list[Leased]:
        connection = self._live()
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            rows = connection.execute(
                "UPDATE requests SET state = ? WHERE id IN "
                "(SELECT id FROM requests WHERE state = ? ORDER BY id LIMIT ?) "
                f"RETURNING id, url, depth, referrer, skip, host_depth, sitemap, {_VISIT}",
                (LEASED, PENDING, limit),
            ).fetchall()
        self._count_move(PENDING, LEASED, len(rows))
        leased = [
            Leased(
                id_,
                url,
                depth,
                referrer,
                None if skip is None else SkipReason(skip),
                host_depth,
                sitemap,
                None if visit[4] is None else Visit(*visit),
            )
            for id_, url, depth, referrer, skip, host_depth, sitemap, *visit in rows
        ]
        return sorted(leased, key=lambda one: one.id)

    def _complete(
        self,
        ids_by_state: dict[int, Sequence[int]],
        outputs: dict[str, int],
        visits: Mapping[int, Visit],
    ) -> None:
        connection = self._live()
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            moved = {state: self._update(ids, LEASED, state) for state, ids in ids_by_state.items()}
            connection.executemany(
                "INSERT OR REPLACE INTO outputs (path, length) VALUES (?, ?)", outputs.items()
            )
            connection.executemany(
                "UPDATE requests SET status = ?, etag = ?, last_modified = ?, digest = ?, "
                "fetched_at = ?, interval = ?, payload = ? WHERE id = ?",
                [(*visit, request_id) for request_id, visit in visits.items()],
            )
        # Counted only once committed, so a failed commit leaves counts and file in agreement.
        for state, count in moved.items():
            self._count_move(LEASED, state, count)

    def _revisit(self, now: float) -> int:
        # Skipped ones too, if fetched once: a recrawl cut short by a budget leaves them so.
        connection = self._live()
        moved = {}
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            for state in (DONE, FAILED, SKIPPED):
                moved[state] = connection.execute(
                    "UPDATE requests SET state = ? WHERE state = ? AND fetched_at IS NOT NULL "
                    "AND fetched_at + interval <= ?",
                    (PENDING, state, now),
                ).rowcount
        for state, count in moved.items():
            self._count_move(state, PENDING, count)
        return sum(moved.values())

    def _move(self, ids: Sequence[int], source: int, target: int) -> None:
        with self._live():
            self._live().execute("BEGIN IMMEDIATE")
            moved = self._update(ids, source, target)
        self._count_move(source, target, moved)

    def _update(self, ids: Sequence[int], source: int, target: int) -> int:
        connection = self._live()
        moved = 0
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            moved += connection.execute(
                f"UPDATE requests SET state = ? WHERE state = ? AND id IN ({marks})",
                (target, source, *chunk),
            ).rowcount
        return moved

    def _count_move(self, source: int, target: int, moved: int) -> None:
        self._counts[source] -= moved
        self._counts[target] += moved

    def _output_lengths(self) -> dict[str, int]:
        return dict(self._live().execute("SELECT path, length FROM outputs"))

    def _seeds(self) -> list[str]:
        rows = self._live().execute("SELECT url FROM requests WHERE depth = 0 ORDER BY id")
        return [url for (url,) in rows]

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _live(self) -> sqlite3.Connection:
        if self._connection is None:
            raise FrontierClosed(f"the frontier {self.path} is closed")
        return self._connection
