"""Fixtures that run corocrawl's test server in a subprocess, the way users run it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from corocrawl.testing import ServerProcess

SESSION_SERVER_ARGS = ("--delay", "0.2", "--site-pages", "200", "--site-links", "5")


def start_server_process(*extra_args: str) -> ServerProcess:
    server = ServerProcess(*extra_args)
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    return server


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    handle = start_server_process(*SESSION_SERVER_ARGS)
    yield handle
    handle.stop()


@pytest.fixture
def start_server() -> Iterator[Callable[..., ServerProcess]]:
    """Factory: `start_server("--delay", "0")` starts a server that stops when the test ends."""
    handles: list[ServerProcess] = []

    def start(*extra_args: str) -> ServerProcess:
        handle = start_server_process(*extra_args)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()
