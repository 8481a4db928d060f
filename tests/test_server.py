"""Tests of the bundled test server, talking HTTP to a real server process on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import subprocess
import sys
import uuid
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from corocrawl._cli.serve import add_server_arguments, server_config_from_args
from corocrawl.testing import ServerConfig, ServerProcess, site_links

SITE_PAGES = 200  # matches the session server's --site-pages
SITE_LINKS = 5  # matches the session server's --site-links


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
        yield client


async def get(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, bytes, dict[str, str]]:
    """GET without following redirects; return the status, body and headers."""
    async with session.get(url, allow_redirects=False, **kwargs) as response:
        return response.status, await response.read(), dict(response.headers)


def bfs_reachable(pages: int, links_per_page: int) -> set[int]:
    seen = {0}
    frontier = deque([0])
    while frontier:
        for target in site_links(frontier.popleft(), pages, links_per_page):
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


async def wait_until_nothing_in_flight(server: ServerProcess) -> int:
    for _ in range(50):
        in_flight: int = server.stats()["in_flight"]
        if in_flight == 0:
            break
        await asyncio.sleep(0.1)
    return in_flight


async def test_root_answers_hello_after_the_delay(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    status, body, headers = await get(session, f"{server.url}/")
    assert (status, body) == (200, b"Hello!")
    assert headers["Content-Type"].startswith("text/plain")


async def test_delay_answers_hello(server: ServerProcess, session: aiohttp.ClientSession) -> None:
    status, body, _ = await get(session, f"{server.url}/delay/0.01")
    assert (status, body) == (200, b"Hello!")


@pytest.mark.parametrize("seconds", ["-1", "abc", "nan"])
async def test_delay_rejects_bad_seconds(
    server: ServerProcess, session: aiohttp.ClientSession, seconds: str
) -> None:
    status, _, _ = await get(session, f"{server.url}/delay/{seconds}")
    assert status == 400


@pytest.mark.parametrize("code", [200, 204, 404, 418, 500, 503, 599])
async def test_status_answers_the_code(
    server: ServerProcess, session: aiohttp.ClientSession, code: int
) -> None:
    status, _, headers = await get(session, f"{server.url}/status/{code}")
    assert status == code
    assert "Location" not in headers


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_status_redirects_carry_a_location(
    server: ServerProcess, session: aiohttp.ClientSession, code: int
) -> None:
    status, _, headers = await get(session, f"{server.url}/status/{code}")
    assert (status, headers["Location"]) == (code, "/")


async def test_status_adds_retry_after(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    status, _, headers = await get(session, f"{server.url}/status/429?retry_after=7")
    assert (status, headers["Retry-After"]) == (429, "7")


@pytest.mark.parametrize("code", ["99", "600", "abc"])
async def test_status_rejects_codes_out_of_range(
    server: ServerProcess, session: aiohttp.ClientSession, code: str
) -> None:
    status, _, _ = await get(session, f"{server.url}/status/{code}")
    assert status == 400


@pytest.mark.parametrize("length", [0, 1, 65536, 200_001])
async def test_bytes_streams_a_deterministic_pattern(
    server: ServerProcess, session: aiohttp.ClientSession, length: int
) -> None:
    status, body, headers = await get(session, f"{server.url}/bytes/{length}")
    assert status == 200
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Length"] == str(length)
    assert body == bytes(index % 256 for index in range(length))


async def test_bytes_rejects_negative_lengths(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    status, _, _ = await get(session, f"{server.url}/bytes/-1")
    assert status == 400


async def test_redirect_counts_down_to_hello(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    status, _, headers = await get(session, f"{server.url}/redirect/3")
    assert (status, headers["Location"]) == (302, "/redirect/2")
    async with session.get(f"{server.url}/redirect/3") as response:
        assert (response.status, await response.text()) == (200, "Hello!")
        assert [str(hop.url.path) for hop in response.history] == [
            "/redirect/3",
            "/redirect/2",
            "/redirect/1",
        ]


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://example.com/x", "javascript:alert(1)"]
)
async def test_redirect_to_sends_any_location(
    server: ServerProcess, session: aiohttp.ClientSession, location: str
) -> None:
    status, _, headers = await get(
        session, f"{server.url}/redirect-to", params={"url": location, "status": "301"}
    )
    assert (status, headers["Location"]) == (301, location)


@pytest.mark.parametrize("query", ["", "?url=/&status=200", "?url=/&status=x"])
async def test_redirect_to_rejects_bad_queries(
    server: ServerProcess, session: aiohttp.ClientSession, query: str
) -> None:
    status, _, _ = await get(session, f"{server.url}/redirect-to{query}")
    assert status == 400


async def test_redirect_loop_redirects_to_itself(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    status, _, headers = await get(session, f"{server.url}/redirect-loop")
    assert (status, headers["Location"]) == (302, "/redirect-loop")
    with pytest.raises(aiohttp.TooManyRedirects):
        async with session.get(f"{server.url}/redirect-loop", max_redirects=5):
            pass


async def test_headers_echoes_the_request_headers(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    status, body, headers = await get(session, f"{server.url}/headers", headers={"X-Probe": "42"})
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    echoed = json.loads(body)
    assert echoed["X-Probe"] == "42"
    assert echoed["Host"] == server.url.removeprefix("http://")


async def test_flaky_fails_n_times_per_key_then_succeeds(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    key, other_key = uuid.uuid4().hex, uuid.uuid4().hex
    flaky = f"{server.url}/flaky/{key}/2?retry_after=3"
    first, second, third, fourth = [await get(session, flaky) for _ in range(4)]
    assert [first[0], second[0], third[0], fourth[0]] == [503, 503, 200, 200]
    assert first[2]["Retry-After"] == "3"
    assert third[1] == b"Hello!"
    status, _, headers = await get(session, f"{server.url}/flaky/{other_key}/1")
    assert status == 503
    assert "Retry-After" not in headers


async def test_drip_sends_the_announced_bytes(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    status, body, headers = await get(session, f"{server.url}/drip?bytes=5&interval=0.01")
    assert (status, len(body), headers["Content-Length"]) == (200, 5, "5")


async def test_hang_never_answers_and_is_released_on_disconnect(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(asyncio.TimeoutError):
        async with session.get(f"{server.url}/hang", timeout=aiohttp.ClientTimeout(total=0.3)):
            pass
    assert await wait_until_nothing_in_flight(server) == 0


@pytest.mark.parametrize(("path", "claimed"), [("/reset", 100_000), ("/big-length", 10 << 30)])
async def test_truncated_bodies_break_off_after_the_headers(
    server: ServerProcess, session: aiohttp.ClientSession, path: str, claimed: int
) -> None:
    async with session.get(f"{server.url}{path}") as response:
        assert (response.status, response.content_length) == (200, claimed)
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


async def test_gzip_bomb_is_small_on_the_wire(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    megabytes = 20
    status, body, headers = await get(
        session, f"{server.url}/gzip-bomb/{megabytes}", auto_decompress=False
    )
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert int(headers["Content-Length"]) == len(body) < 100_000
    assert zlib.decompress(body, wbits=31) == bytes(megabytes << 20)


async def test_bad_charset_is_invalid_utf8(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    status, body, headers = await get(session, f"{server.url}/bad-charset")
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


@pytest.mark.parametrize("page", [0, 1, 57, SITE_PAGES - 1])
async def test_site_page_has_its_title_and_links(
    server: ServerProcess, session: aiohttp.ClientSession, page: int
) -> None:
    status, body, headers = await get(session, f"{server.url}/site/{page}")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    html = body.decode()
    assert f"<title>Page {page}</title>" in html
    linked = [int(target) for target in re.findall(r'<a href="/site/([0-9]+)">', html)]
    assert linked == site_links(page, SITE_PAGES, SITE_LINKS)
    assert abs(len(body) - ServerConfig().site_page_bytes) < 200


@pytest.mark.parametrize("page", [str(SITE_PAGES), "1000000", "-1", "abc", ""])
async def test_site_has_no_page_past_the_last(
    server: ServerProcess, session: aiohttp.ClientSession, page: str
) -> None:
    status, _, _ = await get(session, f"{server.url}/site/{page}")
    assert status == 404


def test_site_links_puts_tree_children_first() -> None:
    assert site_links(0, SITE_PAGES, SITE_LINKS)[:SITE_LINKS] == [1, 2, 3, 4, 5]
    assert site_links(2, SITE_PAGES, SITE_LINKS) == [11, 12, 13, 14, 15]
    last_links = site_links(SITE_PAGES - 1, SITE_PAGES, SITE_LINKS)
    assert len(last_links) == SITE_LINKS
    assert all(0 <= target < SITE_PAGES for target in last_links)


def test_site_links_is_deterministic() -> None:
    first = [site_links(page, 1000, 10) for page in range(1000)]
    assert first == [site_links(page, 1000, 10) for page in range(1000)]
    all_links = [target for links in first for target in links]
    assert len(set(all_links)) < len(all_links), "a realistic site has duplicate links"


@pytest.mark.parametrize(("pages", "links"), [(1, 1), (2, 1), (7, 3), (200, 5), (1000, 10)])
def test_site_links_reach_every_page_from_page_0(pages: int, links: int) -> None:
    assert bfs_reachable(pages, links) == set(range(pages))


def test_site_links_rejects_pages_outside_the_site() -> None:
    with pytest.raises(ValueError, match="page must be in"):
        site_links(10, 10, 3)


async def test_robots_txt_is_404_by_default(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    status, _, _ = await get(session, f"{server.url}/robots.txt")
    assert status == 404


async def test_robots_txt_serves_the_robots_file(
    start_server: Callable[..., ServerProcess], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    robots = "User-agent: *\nDisallow: /site/1\n"
    robots_file = tmp_path / "robots.txt"
    robots_file.write_text(robots)
    robots_server = start_server("--robots-file", str(robots_file))
    status, body, _ = await get(session, f"{robots_server.url}/robots.txt")
    assert (status, body.decode()) == (200, robots)


async def test_unknown_paths_are_404(server: ServerProcess, session: aiohttp.ClientSession) -> None:
    status, _, _ = await get(session, f"{server.url}/no/such/path")
    assert status == 404


async def test_stats_counts_requests_but_not_itself(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    server.reset_stats()
    await get(session, f"{server.url}/site/3")
    await get(session, f"{server.url}/site/3")
    await get(session, f"{server.url}/status/404")
    server.stats()
    stats = server.stats()
    assert stats["requests"] == 3
    assert stats["by_path"] == {"/site/3": 2, "/status/404": 1}
    assert stats["in_flight"] == 0


async def test_stats_records_the_peak_of_concurrent_requests(
    server: ServerProcess, session: aiohttp.ClientSession
) -> None:
    server.reset_stats()
    await asyncio.gather(*(get(session, f"{server.url}/delay/0.5") for _ in range(50)))
    stats = server.stats()
    host = server.url.removeprefix("http://")
    assert stats["requests"] == 50
    assert stats["peak_in_flight"] >= 50
    assert stats["peak_in_flight_by_host"][host] >= 50
    assert stats["by_path"] == {"/delay/0.5": 50}
    server.reset_stats()
    assert server.stats()["peak_in_flight"] == 0


def test_server_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="delay"):
        ServerConfig(delay=-1)
    with pytest.raises(ValueError, match="site_pages"):
        ServerConfig(site_pages=0)
    with pytest.raises(ValueError, match="port"):
        ServerConfig(port=70000)


def test_server_arguments_build_a_config(tmp_path: Path) -> None:
    robots_file = tmp_path / "robots.txt"
    robots_file.write_text("User-agent: *\n")
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    assert server_config_from_args(parser.parse_args([])) == ServerConfig()
    args = parser.parse_args(
        [
            "--delay",
            "0",
            "--site-pages",
            "5",
            "--site-links",
            "2",
            "--robots-file",
            str(robots_file),
        ]
    )
    assert server_config_from_args(args) == ServerConfig(
        delay=0, site_pages=5, site_links=2, robots_txt="User-agent: *\n"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--delay", "-1"], "delay must be a finite number >= 0, got -1.0"),
        (["--site-pages", "0"], "site_pages must be >= 1, got 0"),
        (["--robots-file", "/nonexistent/robots.txt"], "cannot read robots file"),
    ],
)
def test_serve_rejects_a_bad_option_in_one_line_with_exit_2(flags: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "serve", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("corocrawl serve: error: ")
    assert message in line


def test_serve_on_a_busy_port_is_a_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "corocrawl", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"corocrawl serve: error: cannot listen on 127.0.0.1:{port}: ")


def test_serve_names_every_address_it_listens_on() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "corocrawl", "serve", "--port", "0", "--also-listen", "127.0.0.2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first, second = process.stdout.readline(), process.stdout.readline()
    finally:
        process.terminate()
        process.communicate(timeout=30)
    port = first.strip().rsplit(":", 1)[1]
    assert first.strip() == f"corocrawl serve: listening on http://127.0.0.1:{port}"
    assert second.strip() == f"corocrawl serve: also listening on http://127.0.0.2:{port}"
