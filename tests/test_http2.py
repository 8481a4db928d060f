"""HTTP/2 against a real HTTP/2 server on loopback: nginx over TLS, with a certificate made by
`serve --tls`'s own helper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import corocrawl
from corocrawl import FetchConfig, Limits
from corocrawl.testing import NginxServer
from corocrawl.testing._tls import make_server_certificate

PAGE = b"<title>over HTTP/2</title>" + b"x" * 5000


@pytest.fixture(scope="module")
def http2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NginxServer, Path]]:
    """(nginx speaking HTTP/2 over TLS, the CA file to trust it with)."""
    root = tmp_path_factory.mktemp("www")
    (root / "page.html").write_bytes(PAGE)
    made = make_server_certificate(tmp_path_factory.mktemp("tls"), ["127.0.0.1", "localhost"])
    with NginxServer(root, tls=(made.chain, made.key)) as server:
        yield server, made.ca


def fetched(urls: list[str], **options: object) -> list[corocrawl.FetchResult]:
    return corocrawl.fetch_all(urls, FetchConfig(keep_body=True, **options))  # type: ignore[arg-type]


def test_curl_speaks_http2_where_the_server_offers_it(
    http2_server: tuple[NginxServer, Path],
) -> None:
    """Each result records the protocol it came over."""
    server, ca = http2_server
    results = fetched([f"{server.url}/page.html"] * 20, transport="curl", ca_bundle=ca)
    assert {(result.status, result.http_version) for result in results} == {(200, "HTTP/2")}
    assert all(result.body == PAGE for result in results)
    (record,) = {result.to_record()["http_version"] for result in results}
    assert record == "HTTP/2"


@pytest.mark.parametrize(
    ("options", "spoken"),
    [
        ({"transport": "curl", "http_version": "1.1"}, "HTTP/1.1"),  # --http1.1
        ({"transport": "curl", "http_version": "3"}, "HTTP/2"),  # no QUIC here: falls back
        ({"transport": "aiohttp"}, "HTTP/1.1"),  # aiohttp speaks HTTP/1.1 only
    ],
)
def test_http_version_follows_the_options_and_the_transport(
    http2_server: tuple[NginxServer, Path], options: dict[str, object], spoken: str
) -> None:
    server, ca = http2_server
    (result,) = fetched([f"{server.url}/page.html"], ca_bundle=ca, **options)
    assert (result.status, result.http_version, result.body) == (200, spoken, PAGE)


def test_http3_with_the_aiohttp_transport_is_a_clear_error() -> None:
    with pytest.raises(corocrawl.ConfigError, match="HTTP/3 needs the curl transport"):
        FetchConfig(transport="aiohttp", http_version="3")


def test_many_requests_to_one_http2_server_share_a_few_connections(tmp_path: Path) -> None:
    """Requests started together wait for the first connection to say it multiplexes, rather
    than each opening its own (a TLS handshake each: at 10,000 in flight, the handshakes
    alone outlast the connect timeout)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "page.html").write_bytes(PAGE)
    made = make_server_certificate(tmp_path, ["127.0.0.1"])
    log = tmp_path / "connections.log"
    with NginxServer(root, tls=(made.chain, made.key), log_connections=log) as server:
        urls = [f"{server.url}/page.html?n={number}" for number in range(400)]
        config = FetchConfig(transport="curl", ca_bundle=made.ca, limits=Limits(concurrency=200))
        results = corocrawl.fetch_all(urls, config)
    assert {(result.status, result.http_version) for result in results} == {(200, "HTTP/2")}
    lines = log.read_text().splitlines()
    assert len(lines) == 400
    # nginx allows 128 streams on a connection: 200 at once need at least 2 connections.
    assert len({line.split()[0] for line in lines}) <= 4
