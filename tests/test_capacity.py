"""The bundled server holds 10,000 slow requests at once, and corocrawl keeps them in flight."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import corocrawl
from corocrawl import FetchConfig, Limits, Timeouts
from corocrawl.testing import ServerProcess

REQUESTS = 10_000


async def test_ten_thousand_requests_in_flight_at_once(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    # Long enough that every connection is open before the first answer comes back.
    urls = [f"{server.url}/delay/12"] * REQUESTS
    config = FetchConfig(
        limits=Limits(concurrency=REQUESTS),
        timeouts=Timeouts(total=60),
        retry=corocrawl.RetryPolicy(retries=0),
    )
    statuses: dict[int | None, int] = {}
    async with contextlib.aclosing(corocrawl.fetch(urls, config)) as results:
        async for result in results:
            statuses[result.status] = statuses.get(result.status, 0) + 1
    assert statuses == {200: REQUESTS}
    assert server.stats()["peak_in_flight"] == REQUESTS
