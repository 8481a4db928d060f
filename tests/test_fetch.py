"""The fetch API against the real bundled server on loopback: the contract every transport
keeps, so each test runs once per transport."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

import corocrawl
from corocrawl import FetchConfig, FetchResult, Limits, RetryPolicy, Timeouts
from corocrawl._config import TRANSPORT_NAMES
from corocrawl.testing import ServerProcess


@pytest.fixture(autouse=True, params=TRANSPORT_NAMES)
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every FetchConfig these tests make uses this transport. (The server is shared: a test
    whose URL keeps state there, like /flaky's counts, names the transport in it.)"""
    name: str = request.param
    with_transport = functools.partial(corocrawl.FetchConfig, transport=name)
    monkeypatch.setitem(globals(), "FetchConfig", with_transport)
    return name


PATTERN_BYTES = bytes(range(256)) * 256  # what /bytes and /encoded send, 64 KiB at a time
FAST_RETRY = RetryPolicy(retries=2, backoff_base=0.01, backoff_max=0.05)


async def fetch_list(urls: list[str], config: FetchConfig) -> list[FetchResult]:
    async with contextlib.aclosing(corocrawl.fetch(urls, config)) as results:
        return [result async for result in results]


async def fetch_one(url: str, config: FetchConfig | None = None) -> FetchResult:
    (result,) = await fetch_list([url], config or FetchConfig(retry=FAST_RETRY))
    return result


async def test_concurrency_reaches_the_global_limit(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    config = FetchConfig(limits=Limits(concurrency=200))
    results = await fetch_list([f"{server.url}/delay/0.5"] * 500, config)
    assert len(results) == 500
    assert all(result.status == 200 for result in results)
    assert server.stats()["peak_in_flight"] == 200


async def test_per_host_limit_caps_each_host(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    port = server.url.rsplit(":", 1)[1]
    urls = [f"http://{host}:{port}/delay/0.3" for host in ("127.0.0.1", "localhost") * 60]
    config = FetchConfig(limits=Limits(concurrency=100, per_host=15))
    results = await fetch_list(urls, config)
    assert sum(result.ok for result in results) == 120
    peaks = server.stats()["peak_in_flight_by_host"]
    assert peaks == {f"127.0.0.1:{port}": 15, f"localhost:{port}": 15}


async def test_per_ip_limit_caps_the_hosts_on_one_address_together(
    one_address: tuple[ServerProcess, list[str]],
) -> None:
    server, hosts = one_address
    urls = [f"{host}/delay/0.3" for host in hosts * 60]
    config = FetchConfig(limits=Limits(concurrency=100, per_host=15, per_ip=10))
    results = await fetch_list(urls, config)
    assert sum(result.ok for result in results) == 120
    stats = server.stats()
    assert stats["peak_in_flight"] == 10  # 30 without --per-ip: 15 on each host
    assert len(stats["peak_in_flight_by_host"]) == 2


async def test_every_url_gets_exactly_one_record(server: ServerProcess) -> None:
    urls = [f"{server.url}/status/{code}" for code in (200, 404, 500, 201)] + [
        f"{server.url}/reset",
        "not a url",
        "ftp://example.com/file",
        f"{server.url}/redirect/2",
    ]
    results = await fetch_list(urls, FetchConfig(retry=FAST_RETRY))
    assert sorted(result.url for result in results) == sorted(urls)
    by_url = {result.url: result for result in results}
    assert by_url[f"{server.url}/status/500"].status == 500
    assert by_url[f"{server.url}/status/500"].attempts == 3
    assert by_url[f"{server.url}/status/404"].attempts == 1
    assert by_url["not a url"].error is not None
    assert by_url["not a url"].error.type == "BlockedURL"
    assert by_url["ftp://example.com/file"].error is not None


async def test_retries_until_the_server_recovers(server: ServerProcess, transport: str) -> None:
    result = await fetch_one(f"{server.url}/flaky/recover-{transport}/2")
    assert (result.status, result.attempts, result.error) == (200, 3, None)


async def test_retry_after_is_honoured_and_the_retry_succeeds(
    server: ServerProcess, transport: str
) -> None:
    result = await fetch_one(f"{server.url}/flaky/patience-{transport}/1?retry_after=1")
    assert (result.status, result.attempts) == (200, 2)


async def test_gives_up_after_the_retries(server: ServerProcess) -> None:
    result = await fetch_one(f"{server.url}/flaky/never/100")
    assert (result.status, result.attempts) == (503, 3)
    # The record says how long the URL took in all, backoff included, not just its last try.
    assert result.elapsed_total > result.elapsed


async def test_reset_mid_body_is_a_read_error_never_a_success(server: ServerProcess) -> None:
    result = await fetch_one(f"{server.url}/reset")
    assert result.status is None
    assert result.error is not None
    assert result.error.type == "ReadError"
    # Said once, without the parser's "400" (a code for servers, not a status received).
    assert result.error.message.startswith("body broken off: ")
    assert "received 47 of 100000 bytes" in result.error.message
    assert "400" not in result.error.message
    assert result.attempts == 3


async def test_a_dripping_body_is_ended_by_the_total_deadline(server: ServerProcess) -> None:
    config = FetchConfig(timeouts=Timeouts(total=0.5, read=5), retry=RetryPolicy(retries=0))
    result = await fetch_one(f"{server.url}/drip?bytes=100&interval=0.05", config)
    assert result.error is not None
    assert result.error.type == "FetchTimeout"


async def test_a_silent_server_is_a_read_timeout(server: ServerProcess) -> None:
    config = FetchConfig(timeouts=Timeouts(total=5, read=0.3), retry=RetryPolicy(retries=0))
    result = await fetch_one(f"{server.url}/hang", config)
    assert result.error is not None
    assert result.error.type == "ReadTimeout"
    assert isinstance(corocrawl.ReadTimeout("x"), TimeoutError)


async def test_a_silent_server_is_a_read_timeout_while_other_requests_are_in_flight(
    server: ServerProcess,
) -> None:
    """Each transfer's silence is its own: others busy at the same time (a body dripping
    steadily, quick answers) neither hide it nor are ended by it."""
    config = FetchConfig(timeouts=Timeouts(total=10, read=0.4), retry=RetryPolicy(retries=0))
    urls = [
        f"{server.url}/hang",
        f"{server.url}/drip?bytes=20&interval=0.1",
        f"{server.url}/hang",
        *(f"{server.url}/bytes/10?n={n}" for n in range(5)),
    ]
    by_url = {result.url: result for result in await fetch_list(urls, config)}
    silent = [by_url[urls[0]], by_url[urls[2]]]
    # ReadTimeout, not the whole fetch's FetchTimeout (10 s): the silence ended each.
    assert [result.error.type if result.error else None for result in silent] == ["ReadTimeout"] * 2
    assert by_url[urls[1]].status == 200  # 2 s of drip, never silent for 0.4 s
    assert all(by_url[url].status == 200 for url in urls[3:])


async def test_refused_connection_is_a_connect_error() -> None:
    config = FetchConfig(retry=RetryPolicy(retries=0))
    result = await fetch_one("http://127.0.0.1:9/", config)
    assert result.error is not None
    assert result.error.type == "ConnectError"


async def test_body_over_the_cap_is_refused(server: ServerProcess) -> None:
    config = FetchConfig(limits=Limits(max_body_bytes=1000))
    result = await fetch_one(f"{server.url}/bytes/5000", config)
    assert result.error is not None
    assert result.error.type == "ResponseTooLarge"
    fits = await fetch_one(f"{server.url}/bytes/1000", config)
    assert (fits.status, fits.size) == (200, 1000)


async def test_compression_bomb_is_stopped_at_the_decompressed_cap(server: ServerProcess) -> None:
    config = FetchConfig(limits=Limits(max_body_bytes=5 * 1024 * 1024), keep_body=True)
    result = await fetch_one(f"{server.url}/gzip-bomb/1024", config)
    assert result.error is not None
    assert result.error.type == "ResponseTooLarge"
    assert "after decompression" in result.error.message


async def test_a_gzip_stream_that_ends_early_is_an_error_and_its_body_is_not_saved(
    server: ServerProcess, tmp_path: Path
) -> None:
    """README, Guarantees: a body is whole or an error record. The response itself is
    complete (Content-Length matches); the gzip stream inside it is cut in half."""
    whole = await fetch_one(f"{server.url}/encoded/gzip?bytes=1024000")
    assert whole.ok
    assert whole.size == 1024000
    sent = len(gzip.compress(PATTERN_BYTES * (1024000 // len(PATTERN_BYTES))))
    config = FetchConfig(retry=FAST_RETRY, save_bodies=tmp_path / "bodies")
    (cut,) = await fetch_list([f"{server.url}/encoded/gzip?bytes=1024000&cut={sent // 2}"], config)
    assert cut.error is not None
    assert (cut.error.type, cut.error.message) == (
        "ReadError",
        "body broken off: the gzip stream ends early",
    )
    assert cut.body_path is None
    assert not any(path.is_file() for path in (tmp_path / "bodies").rglob("*"))


async def test_stacked_encodings_are_decoded_whole(server: ServerProcess) -> None:
    config = FetchConfig(keep_body=True)
    for codings in ("gzip,gzip", "gzip,gzip?lines=1", "deflate", "raw-deflate", "deflate,gzip"):
        query = "&" if "?" in codings else "?"
        result = await fetch_one(f"{server.url}/encoded/{codings}{query}bytes=300000", config)
        assert result.ok, (codings, result.error)
        assert result.body == (PATTERN_BYTES * 5)[:300000]


async def test_a_body_that_lies_about_its_encoding_is_an_error(server: ServerProcess) -> None:
    """A server claims a coding it did not apply, or one corocrawl never asked for."""
    claims_gzip = await fetch_one(f"{server.url}/encoded/claim-gzip?bytes=1000")
    claims_br = await fetch_one(f"{server.url}/encoded/br?bytes=1000")
    assert claims_gzip.error is not None
    assert claims_br.error is not None
    assert claims_gzip.error.type == claims_br.error.type == "ProtocolError"
    assert claims_gzip.error.message.startswith("body not decodable as gzip")
    assert claims_br.error.message == (
        "cannot decode Content-Encoding br (corocrawl asks for gzip, deflate only)"
    )


async def test_a_stacked_bomb_is_stopped_at_the_decompressed_cap(server: ServerProcess) -> None:
    config = FetchConfig(limits=Limits(max_body_bytes=1 << 20), keep_body=True)
    result = await fetch_one(f"{server.url}/encoded/gzip,gzip?bytes={32 << 20}", config)
    assert result.error is not None
    assert result.error.type == "ResponseTooLarge"


async def test_content_length_over_the_cap_is_refused_from_the_header(
    server: ServerProcess,
) -> None:
    result = await fetch_one(f"{server.url}/big-length")
    assert result.error is not None
    assert result.error.type == "ResponseTooLarge"
    assert "Content-Length" in result.error.message


async def test_redirects_are_followed_hop_by_hop_up_to_the_limit(server: ServerProcess) -> None:
    config = FetchConfig(limits=Limits(max_redirects=3))
    ok = await fetch_one(f"{server.url}/redirect/3", config)
    assert (ok.status, ok.redirects, ok.final_url) == (200, 3, f"{server.url}/redirect/0")
    too_many = await fetch_one(f"{server.url}/redirect/4", config)
    assert too_many.error is not None
    assert too_many.error.type == "TooManyRedirects"
    loop = await fetch_one(f"{server.url}/redirect-loop", config)
    assert loop.error is not None
    assert loop.error.type == "TooManyRedirects"


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://example.com/x", "javascript:alert(1)"]
)
async def test_redirect_to_a_refused_scheme_is_blocked(server: ServerProcess, target: str) -> None:
    result = await fetch_one(f"{server.url}/redirect-to?url={target}")
    assert result.error is not None
    assert result.error.type == "BlockedURL"


async def test_a_header_value_in_utf8_is_sent_as_such(server: ServerProcess) -> None:
    config = FetchConfig(headers=(("X-Name", "café"),), keep_body=True)
    result = await fetch_one(f"{server.url}/headers", config)
    assert result.status == 200
    assert result.body is not None
    assert "caf" in json.loads(result.body)["X-Name"]


async def test_credentials_do_not_follow_a_redirect_to_another_origin(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    port = server.url.rsplit(":", 1)[1]
    config = FetchConfig(
        headers=(("Authorization", "Bearer secret"), ("X-Trace", "kept")), keep_body=True
    )
    other_origin = f"http://localhost:{port}/headers"
    moved = await fetch_one(f"{server.url}/redirect-to?url={other_origin}", config)
    assert moved.status == 200
    assert "Bearer secret" not in moved.text()
    assert "kept" in moved.text()
    same = await fetch_one(f"{server.url}/redirect-to?url=/headers", config)
    assert "Bearer secret" in same.text()


async def test_undecodable_body_decodes_with_replacement(server: ServerProcess) -> None:
    result = await fetch_one(f"{server.url}/bad-charset", FetchConfig(keep_body=True))
    assert result.status == 200
    assert result.charset == "utf-8"
    assert "\ufffd" in result.text()


async def test_bodies_are_saved_under_their_hash(server: ServerProcess, tmp_path: Path) -> None:
    config = FetchConfig(save_bodies=tmp_path / "bodies")
    result = await fetch_one(f"{server.url}/bytes/3000", config)
    assert result.body is None
    assert result.body_path is not None
    saved = await asyncio.to_thread(Path(result.body_path).read_bytes)
    assert len(saved) == 3000
    assert Path(result.body_path).name == hashlib.sha256(saved).hexdigest()
    assert result.to_record()["body_path"] == result.body_path


async def test_selected_headers_are_recorded(server: ServerProcess) -> None:
    result = await fetch_one(f"{server.url}/status/429?retry_after=7")
    assert result.headers["retry-after"] == "7"
    assert result.content_type == "text/plain"
    assert result.to_record()["status"] == 429


async def test_input_is_read_only_as_far_ahead_as_needed(server: ServerProcess) -> None:
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        while True:
            pulled += 1
            yield f"{server.url}/delay/0.05"

    config = FetchConfig(limits=Limits(concurrency=10))
    async with contextlib.aclosing(corocrawl.fetch(endless(), config)) as results:
        received = 0
        async for _ in results:
            received += 1
            if received == 50:
                break
    assert pulled < 1100  # the engine's buffer (1000 here) plus what is in flight


def test_fetch_all_keeps_input_order(server: ServerProcess) -> None:
    urls = [f"{server.url}/delay/{delay}" for delay in (0.3, 0.0, 0.2, 0.1)]
    results = corocrawl.fetch_all(urls)
    assert [result.url for result in results] == urls
    assert all(result.ok for result in results)


async def test_fetch_all_refuses_to_block_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="inside an event loop"):
        corocrawl.fetch_all(["http://127.0.0.1/"])


async def test_async_iterables_are_accepted(server: ServerProcess) -> None:
    async def urls() -> AsyncIterator[str]:
        for _ in range(3):
            yield f"{server.url}/status/204"

    async with contextlib.aclosing(corocrawl.fetch(urls())) as results:
        statuses = [result.status async for result in results]
    assert statuses == [204, 204, 204]


async def test_a_host_in_a_503_storm_waits_while_other_hosts_go_on(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    port = server.url.rsplit(":", 1)[1]
    storm = [f"http://localhost:{port}/flaky/storm-{i}/1?retry_after=3" for i in range(5)]
    calm = [f"http://127.0.0.1:{port}/delay/0.05" for _ in range(40)]
    config = FetchConfig(
        limits=Limits(concurrency=8, per_host=4),
        retry=RetryPolicy(retries=1, backoff_base=0.01, retry_after_max=3),
    )
    order = [result.url for result in await fetch_list(storm + calm, config)]
    calm_done = max(order.index(url) for url in calm)
    storm_done = [order.index(url) for url in storm]
    # Every calm URL finished before any stormy one came back from its host's pause.
    assert all(index > calm_done for index in storm_done)
