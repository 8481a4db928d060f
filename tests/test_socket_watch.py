"""SocketWatch: libcurl's sockets in an epoll set of their own, with real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from corocrawl._engine.socket_watch import READ, WRITE, SocketWatch


class _Handed(list[list[tuple[int, int]]]):
    """What the watch hands over, turn by turn; `first()` waits for the first hand-over."""

    def __init__(self) -> None:
        super().__init__()
        self._came = asyncio.Event()

    def __call__(self, ready: list[tuple[int, int]]) -> None:
        self.append(ready)
        self._came.set()

    async def first(self) -> list[tuple[int, int]]:
        async with asyncio.timeout(1.0):
            await self._came.wait()
        return self[0]


Watched = tuple[_Handed, SocketWatch, socket.socket, socket.socket]


@pytest.fixture
async def watched() -> AsyncIterator[Watched]:
    """(what is handed over, the watch, our end of a socket pair, the other end)."""
    got = _Handed()
    watch = SocketWatch(asyncio.get_running_loop(), got)
    ours, theirs = socket.socketpair()
    try:
        yield got, watch, ours, theirs
    finally:
        watch.close()
        ours.close()
        theirs.close()


async def test_a_watched_socket_is_handed_over_when_ready(watched: Watched) -> None:
    got, watch, ours, theirs = watched
    watch.watch(ours.fileno(), READ)
    theirs.send(b"x")
    assert await got.first() == [(ours.fileno(), READ)]


async def test_a_put_down_socket_that_is_closed_and_its_number_reused_is_watched_anew() -> None:
    """The hazard a deferred removal brings: the old socket's number comes back as a new
    socket, which must be watched (its old entry vanished with the close)."""
    got = _Handed()
    watch = SocketWatch(asyncio.get_running_loop(), got)
    first, first_peer = socket.socketpair()
    number = first.fileno()
    watch.watch(number, READ)
    watch.put_down(number)
    first.close()  # as libcurl may, right after putting it down
    second, second_peer = socket.socketpair()
    reused = second if second.fileno() == number else second_peer
    other = second_peer if reused is second else second
    try:
        assert reused.fileno() == number  # the kernel hands out the lowest free number
        watch.watch(number, READ)
        other.send(b"x")
        assert await got.first() == [(number, READ)]
    finally:
        watch.close()
        for sock in (first_peer, second, second_peer):
            sock.close()


async def test_a_put_down_socket_taken_up_again_keeps_working(watched: Watched) -> None:
    """A kept-alive connection between two requests: put down, then watched again."""
    got, watch, ours, _ = watched
    watch.watch(ours.fileno(), READ)
    watch.put_down(ours.fileno())
    watch.watch(ours.fileno(), READ | WRITE)
    assert await got.first() == [(ours.fileno(), WRITE)]


async def test_a_put_down_socket_its_server_closes_is_taken_out_not_handed_over(
    watched: Watched,
) -> None:
    got, watch, ours, theirs = watched
    watch.watch(ours.fileno(), READ)
    watch.put_down(ours.fileno())
    theirs.close()  # readable at once, and for good: it must not spin the loop
    for _ in range(5):
        await asyncio.sleep(0.01)
    assert got == []
    watch.watch(ours.fileno(), READ)  # taken up again after being taken out: added anew
    assert (await got.first())[0][0] == ours.fileno()
