"""One contract, every frontier backend: what each promises, tested the same way."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

import corocrawl.frontier
from corocrawl import ConfigError
from corocrawl._urls import fingerprint
from corocrawl.frontier import (
    Discovered,
    Frontier,
    MemoryFrontier,
    RedisFrontier,
    SqliteFrontier,
    Visit,
)

Opener = Callable[[], Awaitable[Frontier]]


def found(*paths: str, depth: int = 1, skip: str | None = None) -> list[Discovered]:
    urls = [f"http://example.com{path}" for path in paths]
    return [Discovered(fingerprint(url), url, depth, "http://example.com/", skip) for url in urls]


@pytest.fixture(params=["memory", "sqlite", "redis", "valkey"])
async def open_frontier(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    opened: list[Frontier] = []
    crawl_id = f"contract-{uuid.uuid4().hex}"

    async def opener() -> Frontier:
        frontier: Frontier
        if request.param == "memory":
            frontier = MemoryFrontier()
        elif request.param in ("redis", "valkey"):
            server = request.getfixturevalue(f"{request.param}_server")
            frontier = await RedisFrontier.open(server.url, crawl_id)
        else:
            frontier = await SqliteFrontier.open(tmp_path / "state.db")
        opened.append(frontier)
        return frontier

    yield opener
    for frontier in opened:
        await frontier.close()


async def test_add_queues_each_url_once(open_frontier: Opener) -> None:
    frontier = await open_frontier()
    assert await frontier.add(found("/a", "/b", "/a")) == 2
    assert await frontier.add(found("/b", "/c")) == 1
    counts = frontier.counts()
    assert (counts.pending, counts.leased, counts.done, counts.failed) == (3, 0, 0, 0)


async def test_claim_leases_the_oldest_first(open_frontier: Opener) -> None:
    frontier = await open_frontier()
    await frontier.add(found("/a", "/b", "/c"))
    first = await frontier.claim(2)
    assert [leased.url for leased in first] == ["http://example.com/a", "http://example.com/b"]
    assert first[0].depth == 1
    assert first[0].referrer == "http://example.com/"
    assert [leased.url for leased in await frontier.claim(5)] == ["http://example.com/c"]
    assert await frontier.claim(5) == []
    assert frontier.counts().leased == 3


async def test_complete_makes_requests_final(open_frontier: Opener) -> None:
    frontier = await open_frontier()
    await frontier.add(found("/a", "/b", "/c", "/d"))
    a, b, c, d = await frontier.claim(4)
    await frontier.complete([a.id, c.id], failed=[b.id], skipped=[d.id])
    counts = frontier.counts()
    assert (counts.pending, counts.leased, counts.done, counts.failed) == (0, 0, 2, 1)
    assert (counts.skipped, counts.total) == (1, 4)
    await frontier.complete([a.id])  # completing twice changes nothing
    assert frontier.counts().done == 2


async def test_release_gives_leases_back(open_frontier: Opener) -> None:
    frontier = await open_frontier()
    await frontier.add(found("/a", "/b"))
    leased = await frontier.claim(2)
    await frontier.release([request.id for request in leased])
    assert frontier.counts().pending == 2
    again = await frontier.claim(2)
    assert [request.url for request in again] == [request.url for request in leased]


async def test_skip_reasons_travel_with_the_request(open_frontier: Opener) -> None:
    frontier = await open_frontier()
    await frontier.add(found("/elsewhere", skip="offsite"))
    (leased,) = await frontier.claim(1)
    assert leased.skip == "offsite"


async def test_host_depth_and_sitemap_level_survive_a_lease_and_a_release(
    open_frontier: Opener,
) -> None:
    frontier = await open_frontier()
    url = "http://example.com/sitemap-2.xml"
    await frontier.add([Discovered(fingerprint(url), url, 3, None, None, host_depth=2, sitemap=2)])
    (leased,) = await frontier.claim(1)
    assert (leased.depth, leased.host_depth, leased.sitemap) == (3, 2, 2)
    await frontier.release([leased.id])
    (again,) = await frontier.claim(1)
    assert (again.url, again.host_depth, again.sitemap) == (url, 2, 2)


async def test_a_visit_is_kept_with_its_request_and_due_again_after_its_interval(
    open_frontier: Opener, request: pytest.FixtureRequest
) -> None:
    frontier = await open_frontier()
    await frontier.add(found("/a", "/b", "/c", "/d"))
    a, b, c, d = await frontier.claim(4)
    assert a.previous is None  # never fetched
    seen_a = Visit(200, '"v1"', "Thu, 01 Jan 2026 00:00:00 GMT", "ab12", 1000.0, 50.0)
    seen_b = Visit(None, None, None, None, 1000.0, 200.0)  # failed: due after its interval
    await frontier.complete(
        [a.id], failed=[b.id], skipped=[c.id], visits={a.id: seen_a, b.id: seen_b}
    )
    await frontier.release([d.id])
    if "memory" in request.node.callspec.id:
        assert await frontier.revisit(10_000.0) == 0  # a run's memory: nothing to revisit
        return
    assert await frontier.revisit(1049.0) == 0  # not due yet
    assert await frontier.revisit(1050.0) == 1
    counts = frontier.counts()
    assert (counts.pending, counts.done, counts.failed, counts.skipped) == (2, 0, 1, 1)
    claimed = {leased.url: leased for leased in await frontier.claim(10)}
    assert claimed["http://example.com/a"].previous == seen_a
    assert claimed["http://example.com/d"].previous is None
    # Given back, a revisit keeps what it carries; skipped, it keeps its visit (due at once).
    again = claimed["http://example.com/a"]
    await frontier.release([again.id])
    (again,) = [one for one in await frontier.claim(10) if one.url.endswith("/a")]
    assert again.previous == seen_a
    await frontier.complete([], skipped=[again.id])
    assert await frontier.revisit(1200.0) == 2  # a again, and b (failed) at last
    urls = sorted(leased.url for leased in await frontier.claim(10))
    assert urls == ["http://example.com/a", "http://example.com/b"]


async def test_sqlite_keeps_everything_across_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    frontier = await SqliteFrontier.open(path)
    assert not frontier.resumed
    await frontier.add(found("/a", "/b", "/c", "/d"))
    a, b, _ = await frontier.claim(3)
    await frontier.complete([a.id], failed=[b.id])
    # No clean release: the third lease is what a killed process leaves behind.
    await frontier.close()

    reopened = await SqliteFrontier.open(path)
    try:
        assert reopened.resumed
        counts = reopened.counts()
        assert (counts.pending, counts.leased, counts.done, counts.failed) == (2, 0, 1, 1)
        assert await reopened.add(found("/a", "/c", "/e")) == 1  # the seen-set survived too
        urls = [request.url for request in await reopened.claim(10)]
        assert urls == ["http://example.com/c", "http://example.com/d", "http://example.com/e"]
    finally:
        await reopened.close()


async def test_sqlite_keeps_output_lengths_with_the_requests_they_complete(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    frontier = await SqliteFrontier.open(path)
    await frontier.add(found("/a", "/b"))
    a, b = await frontier.claim(2)
    await frontier.complete([], outputs={"/out.jsonl": 0})
    await frontier.complete([a.id], outputs={"/out.jsonl": 120, "/items.jsonl": 40})
    await frontier.close()  # b's record was never committed

    reopened = await SqliteFrontier.open(path)
    try:
        assert await reopened.output_lengths() == {"/out.jsonl": 120, "/items.jsonl": 40}
        assert [request.url for request in await reopened.claim(10)] == [b.url]
    finally:
        await reopened.close()


@pytest.mark.parametrize("second_name", ["same", "symlink", "hardlink"])
async def test_sqlite_state_is_held_by_one_crawl_at_a_time(
    tmp_path: Path, second_name: str
) -> None:
    """By the file, not by its name: a symlink or a hard link to it is refused too."""
    path = tmp_path / "state.db"
    frontier = await SqliteFrontier.open(path)
    other = path if second_name == "same" else tmp_path / "other.db"
    if second_name == "symlink":
        other.symlink_to(path)
    elif second_name == "hardlink":
        os.link(path, other)
    try:
        with pytest.raises(ConfigError, match="in use by another crawl"):
            await SqliteFrontier.open(other)
    finally:
        await frontier.close()
    assert not (tmp_path / "state.db.lock").exists()  # nothing left beside it
    again = await SqliteFrontier.open(path)
    await again.close()


async def test_sqlite_handles_batches_larger_than_one_statement(tmp_path: Path) -> None:
    frontier = await SqliteFrontier.open(tmp_path / "state.db")
    try:
        await frontier.add(found(*(f"/page/{i}" for i in range(2500))))
        leased = await frontier.claim(2500)
        await frontier.complete([request.id for request in leased])
        counts = frontier.counts()
        assert (counts.pending, counts.leased, counts.done) == (0, 0, 2500)
    finally:
        await frontier.close()


async def test_redis_adopts_requests_whose_claim_reply_was_lost(shared_server: Any) -> None:
    frontier = await RedisFrontier.open(
        shared_server.url, f"lost-{uuid.uuid4().hex}", heartbeat=0.1, lease_ttl=0.5
    )
    try:
        await frontier.add(found("/a", "/b"))
        # Deliver them to this consumer behind its back: a claim whose reply never arrived.
        number = next(iter(frontier._owned))
        keys = [frontier._counts_key]
        for owned in frontier._owned:
            keys += [frontier._streams[owned], frontier._owners[owned]]
        await frontier._scripts.claim(
            keys=keys, args=["crawlers", frontier.worker_id, 10] + [64] * len(frontier._owned)
        )
        assert number in frontier._owned
        assert await frontier.claim(10) == []  # delivered, but unknown to the frontier
        await asyncio.sleep(1.0)  # a lease period without a touch: the sweep adopts them
        urls = sorted(request.url for request in await frontier.claim(10))
        assert urls == ["http://example.com/a", "http://example.com/b"]
    finally:
        await frontier.close()


async def test_redis_claims_nothing_from_a_partition_another_worker_took(
    shared_server: Any,
) -> None:
    frontier = await RedisFrontier.open(shared_server.url, f"taken-{uuid.uuid4().hex}")
    try:
        await frontier.add(found("/a"))
        client = redis.asyncio.Redis.from_url(shared_server.url)
        for owner in frontier._owners:
            await client.set(owner, "someone-else")
        await client.aclose()
        assert await frontier.claim(10) == []  # its own view is stale; the lease decides
    finally:
        await frontier.close()


async def test_redis_forgets_a_closed_workers_consumer_unless_it_holds_requests(
    shared_server: Any,
) -> None:
    crawl_id = f"consumers-{uuid.uuid4().hex}"
    client = redis.asyncio.Redis.from_url(shared_server.url)

    async def consumers() -> set[str]:
        names = set()
        for number in range(64):
            stream = f"corocrawl:{{{crawl_id}}}:q:{number}"
            for consumer in await client.xinfo_consumers(stream, "crawlers"):
                names.add(consumer["name"].decode())
        return names

    finished = await RedisFrontier.open(shared_server.url, crawl_id)
    await finished.add(found("/a", "/b"))
    (a,) = await finished.claim(1)
    await finished.complete([a.id])
    await finished.close()
    assert finished.worker_id not in await consumers()  # held nothing: forgotten

    holding = await RedisFrontier.open(shared_server.url, crawl_id)
    assert len(await holding.claim(1)) == 1
    await holding.close()  # as if it stopped without finishing: a takeover must find it
    assert holding.worker_id in await consumers()
    await client.aclose()


async def test_open_frontier_picks_the_backend_from_the_url(
    tmp_path: Path, redis_server: Any
) -> None:
    opened = [
        await corocrawl.frontier.open_frontier("memory:"),
        await corocrawl.frontier.open_frontier(str(tmp_path / "a.db")),
        await corocrawl.frontier.open_frontier(tmp_path / "b.db"),
        await corocrawl.frontier.open_frontier(f"sqlite://{tmp_path / 'c.db'}"),
        await corocrawl.frontier.open_frontier(
            f"{redis_server.url}?crawl_id=open-{uuid.uuid4().hex[:8]}"
        ),
    ]
    try:
        kinds = [type(frontier) for frontier in opened]
        assert kinds == [MemoryFrontier, SqliteFrontier, SqliteFrontier, SqliteFrontier,
                         RedisFrontier]  # fmt: skip
        names = await asyncio.to_thread(lambda: {path.name for path in tmp_path.iterdir()})
        assert names >= {"a.db", "b.db", "c.db"}
        for frontier in opened:  # each works as a frontier
            assert await frontier.add(found("/x", depth=0)) == 1
    finally:
        for frontier in opened:
            await frontier.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host/x", "unknown scheme 'ftp' (known: memory:, sqlite:, redis:, rediss:, unix:)"),
        ("redis://127.0.0.1:1/0", "name the crawl once, as ?crawl_id=NAME"),
        ("sqlite://host/x.db", "give 'sqlite:///ABSOLUTE/PATH' or 'sqlite:PATH'"),
        ("memory://somewhere", "a memory frontier is 'memory:'"),
    ],
)
async def test_open_frontier_names_a_bad_url(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        await corocrawl.frontier.open_frontier(url)
