"""The sockets a C library drives (libcurl's), watched in an epoll set of their own.

The event loop watches the whole set as one file and, when it is ready, one callback hands
over every ready socket at once. Two things make this cheaper than a reader per socket
(uvloop's `add_reader`, a handle of its own each): a turn of the loop costs one callback however
many sockets are ready, and a kept-alive socket that its owner puts down between two requests
stays in the set, so taking it up again costs one system call instead of two (and no new
handle in the loop).

Leaving a put-down socket in the set is safe because epoll forgets a socket by itself when it
is closed: if its number then comes back as a new socket, changing the old entry fails with
ENOENT and the new one is added instead; if the put-down socket fires (its server closed it),
it is taken out then.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from collections.abc import Callable

__all__ = ["ERROR", "READ", "WRITE", "SocketWatch"]

READ, WRITE = select.EPOLLIN, select.EPOLLOUT
ERROR = select.EPOLLERR | select.EPOLLHUP
_MOST_AT_ONCE = 1024


class SocketWatch:
    """Watch sockets for READ and/or WRITE; `ready([(fd, events), ...])` is called with those
    that are, once per turn of the loop.

    watch = SocketWatch(loop, ready)
    watch.watch(fd, READ)        # and again with another mask whenever the owner asks
    watch.put_down(fd)           # the owner stops watching it (it may close it next)
    watch.close()
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, ready: Callable[[list[tuple[int, int]]], None]
    ) -> None:
        self._loop = loop
        self._ready = ready
        self._epoll = select.epoll()
        self._masks: dict[int, int] = {}  # fd -> the mask it is in the set with
        self._put_down: set[int] = set()
        loop.add_reader(self._epoll.fileno(), self._on_ready)

    def watch(self, fd: int, mask: int) -> None:
        put_down = fd in self._put_down
        if put_down:
            self._put_down.discard(fd)
        elif self._masks.get(fd) == mask:
            return
        epoll = self._epoll
        if fd not in self._masks:
            try:
                epoll.register(fd, mask)
            except FileExistsError:  # a number we had forgotten, still in the set
                epoll.modify(fd, mask)
        else:
            # Put down, it may have been closed and its number reused: then its entry is gone.
            try:
                epoll.modify(fd, mask)
            except FileNotFoundError:
                epoll.register(fd, mask)
        self._masks[fd] = mask

    def put_down(self, fd: int) -> None:
        if fd in self._masks:
            self._put_down.add(fd)

    def close(self) -> None:
        self._loop.remove_reader(self._epoll.fileno())
        self._epoll.close()
        self._masks.clear()
        self._put_down.clear()

    def _on_ready(self) -> None:
        events = self._epoll.poll(0, _MOST_AT_ONCE)
        put_down = self._put_down
        if put_down and any(fd in put_down for fd, _ in events):
            # Closed by its server while idle: nobody wants it now.
            for fd in [fd for fd, _ in events if fd in put_down]:
                self._take_out(fd)
            events = [(fd, mask) for fd, mask in events if fd in self._masks]
        if events:
            self._ready(events)

    def _take_out(self, fd: int) -> None:
        self._put_down.discard(fd)
        del self._masks[fd]
        with contextlib.suppress(OSError):  # closed meanwhile: already gone from the set
            self._epoll.unregister(fd)
