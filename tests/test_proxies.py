"""Proxies: HTTP (CONNECT and absolute-form) and SOCKS5, real ones on loopback
(`corocrawl.testing`'s TestProxy), checked at the proxy that the requests went through it."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corocrawl._config import TRANSPORT_NAMES
from corocrawl._engine.proxies import REST_AFTER, ProxyRotation
from corocrawl.testing import ServerProcess, TestProxy

SECRET = "s3cret-pw"


@pytest.fixture(scope="module")
def https_server() -> Iterator[ServerProcess]:
    with ServerProcess("--tls", "--delay", "0") as server:
        yield server


def fetch(
    urls: list[str], *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corocrawl", "fetch", "-", *options],
        input="".join(f"{url}\n" for url in urls),
        capture_output=True, text=True, timeout=120, check=False,
        env=None if env is None else {**os.environ, **env},
    )  # fmt: skip


def records(done: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in done.stdout.splitlines()]


def authority(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


def dead_proxy_url() -> str:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize(
    ("kind", "transport"),
    [("http", "aiohttp"), ("http", "curl"), ("socks5", "curl"), ("socks5h", "curl")],
)
def test_requests_go_through_the_proxy_and_its_password_is_never_shown(
    server: ServerProcess, kind: str, transport: str
) -> None:
    """README, Guarantees (proxies)."""
    with TestProxy("http" if kind == "http" else "socks5", credentials=("user", SECRET)) as proxy:
        url = proxy.url.replace("socks5://", f"{kind}://")
        urls = [f"{server.url}/status/200?n={n}" for n in range(5)]
        done = fetch(urls, "--proxy", url, "--transport", transport)
    assert done.returncode == 0, done.stderr
    assert [record["status"] for record in records(done)] == [200] * 5
    assert proxy.targets[authority(server.url)] >= 1  # it went through the proxy
    shown = url.replace(SECRET, "***")
    assert {record["proxy"] for record in records(done)} == {shown}
    assert SECRET not in done.stdout + done.stderr
    assert f"by proxy: {shown} 5" in done.stderr


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_https_goes_through_an_http_proxy_in_a_connect_tunnel(
    https_server: ServerProcess, transport: str
) -> None:
    assert https_server.ca_file is not None
    with TestProxy("http") as proxy:
        done = fetch(
            [f"{https_server.url}/status/200"], "--proxy", proxy.url, "--transport", transport,
            "--ca-bundle", https_server.ca_file, "-q",
        )  # fmt: skip
    assert [record["status"] for record in records(done)] == [200]
    assert proxy.targets[authority(https_server.url)] == 1


@pytest.mark.parametrize(
    ("kind", "transport"), [("http", "aiohttp"), ("http", "curl"), ("socks5", "curl")]
)
def test_a_proxy_that_refuses_the_password_is_a_proxy_error_record(
    server: ServerProcess, kind: str, transport: str
) -> None:
    with TestProxy(kind, credentials=("user", "right")) as proxy:
        wrong = proxy.url.replace(":right@", f":{SECRET}@")
        done = fetch([f"{server.url}/status/200"], "--proxy", wrong, "--transport", transport,
                     "-q", "--retries", "0")  # fmt: skip
    (record,) = records(done)
    error = record["error"]
    assert isinstance(error, dict)
    assert error["type"] == "ProxyError"
    assert str(error["message"]).startswith(f"proxy {wrong.replace(SECRET, '***')}: ")
    assert proxy.refused >= 1
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_the_environment_sends_nothing_around_the_proxy(
    server: ServerProcess, transport: str
) -> None:
    """NO_PROXY (and http_proxy) from the environment are not corocrawl's settings."""
    with TestProxy("http") as proxy:
        done = fetch(
            [f"{server.url}/status/200"], "--proxy", proxy.url, "--transport", transport, "-q",
            env={"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                 "http_proxy": "http://127.0.0.1:9"},
        )  # fmt: skip
    assert [record["status"] for record in records(done)] == [200]
    assert proxy.targets[authority(server.url)] == 1


def test_a_bad_proxy_url_is_refused_without_its_password() -> None:
    done = fetch(["http://127.0.0.1:9/"], "--proxy", f"alice:{SECRET}@proxy.internal:3128")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "corocrawl fetch: error: proxy alice:***@proxy.internal:3128: the scheme must be one "
        "of http, https, socks5, socks5h"
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_a_proxy_file_rotates_and_rests_a_proxy_that_keeps_failing(
    server: ServerProcess, tmp_path: Path, transport: str, workers: str
) -> None:
    dead = dead_proxy_url()
    with TestProxy("http") as first, TestProxy("http") as second:
        proxies = tmp_path / "proxies.txt"
        proxies.write_text(f"# ours\n{first.url}\nftp://not-a-proxy:21\n{dead}\n{second.url}\n")
        urls = [f"{server.url}/status/200?n={n}" for n in range(60)]
        done = fetch(urls, "--proxy-file", str(proxies), "--transport", transport,
                     "--concurrency", "4", "--retries", "3", "--workers", workers)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [record["status"] for record in records(done)] == [200] * 60
    assert first.targets[authority(server.url)] > 10
    assert second.targets[authority(server.url)] > 10
    assert f"{proxies}:3: skipped: proxy ftp://not-a-proxy:21: the scheme must be" in done.stderr
    assert f"proxy {dead} failed 3 times in a row: resting it 60s" in done.stderr
    # The summary, by proxy: its failed attempts (3, or more that were on their way then).
    failed = re.search(rf"{re.escape(dead)} 0 \((\d+) attempts failed\)", done.stderr)
    assert failed is not None, done.stderr
    assert int(failed[1]) >= 3


def test_socks_with_the_aiohttp_transport_is_a_clear_error() -> None:
    done = fetch(["http://127.0.0.1:9/"], "--proxy", "socks5://127.0.0.1:1080",
                 "--transport", "aiohttp")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "corocrawl fetch: error: SOCKS proxies (socks5://127.0.0.1:1080) need the curl "
        "transport (--transport curl)"
    ]


def test_rotation_takes_proxies_in_turn_and_rests_one_that_keeps_failing() -> None:
    rotation = ProxyRotation(["http://a:1", "http://user:pw@b:2"])
    a, b = rotation.proxies
    assert [rotation.choose() for _ in range(4)] == [a, b, a, b]
    assert b.shown == "http://user:***@b:2"
    assert "pw" not in repr(b)
    for _ in range(REST_AFTER):
        rotation.failed(a)
    assert [rotation.choose() for _ in range(3)] == [b, b, b]  # a rests
    rotation.failed(a)  # a late failure of a request sent before the rest: not another rest
    assert a.rests == 1


def test_a_lone_proxy_is_never_rested() -> None:
    rotation = ProxyRotation(["http://a:1"])
    (lone,) = rotation.proxies
    for _ in range(3 * REST_AFTER):
        rotation.failed(lone)
    assert lone.rests == 0
    assert rotation.choose() is lone
