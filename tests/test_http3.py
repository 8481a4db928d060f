"""HTTP/3 (`--http3`) against a real QUIC server on loopback: hypercorn with aioquic, its
certificate made by `serve --tls`'s own helper. The server answers with the protocol it saw,
so the test knows the request went over QUIC, not only what the client reports."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import corocrawl
from corocrawl import FetchConfig
from corocrawl.testing._tls import make_server_certificate

_APP = """
async def app(scope, receive, send):
    body = f"over HTTP/{scope['http_version']}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""


def _port_free_for_tcp_and_udp() -> int:
    """QUIC is tried on the URL's port over UDP, so the server takes that number on both."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no port free for both TCP and UDP")


@pytest.fixture(scope="module")
def http3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(the https:// URL of a server speaking HTTP/3 and HTTP/2, the CA file to trust it)."""
    folder = tmp_path_factory.mktemp("h3")
    (folder / "h3app.py").write_text(_APP)
    made = make_server_certificate(folder, ["127.0.0.1"])
    port = _port_free_for_tcp_and_udp()
    address = f"127.0.0.1:{port}"
    log = folder / "hypercorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "hypercorn", "--certfile", str(made.chain), "--keyfile",
             str(made.key), "--bind", address, "--quic-bind", address, "h3app:app"],
            cwd=folder, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while "(QUIC)" not in log.read_text():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hypercorn did not start its QUIC listener:\n{log.read_text()}")
            time.sleep(0.05)
        yield f"https://{address}", made.ca
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_http3_is_spoken_where_the_server_offers_quic(http3_server: tuple[str, Path]) -> None:
    """libcurl races QUIC against TCP (HTTP/3 gets a short head start): on a busy
    machine, hypercorn's handshake in Python may lose a race, and that request goes over
    HTTP/2. So: HTTP/3 within a few rounds, and every record says what the server saw."""
    url, ca = http3_server
    config = FetchConfig(http_version="3", ca_bundle=ca, keep_body=True)
    spoken: set[str | None] = set()
    for round_ in range(5):
        results = corocrawl.fetch_all([f"{url}/{round_}/{n}" for n in range(10)], config)
        assert all(result.status == 200 for result in results)
        for result in results:
            assert result.body == f"over {result.http_version}".encode()  # as the server saw it
        spoken |= {result.http_version for result in results}
        if "HTTP/3" in spoken:
            break
    assert "HTTP/3" in spoken


def test_without_http3_the_same_server_is_reached_over_http2(
    http3_server: tuple[str, Path],
) -> None:
    url, ca = http3_server
    (result,) = corocrawl.fetch_all([f"{url}/"], FetchConfig(ca_bundle=ca, keep_body=True))
    assert (result.status, result.http_version, result.body) == (200, "HTTP/2", b"over HTTP/2")
