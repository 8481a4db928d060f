"""`corocrawl demo`: the tutorial's lesson in one command, against the bundled server."""

from __future__ import annotations

import argparse
import sys

from .._config import FetchConfig, Limits, Timeouts
from .._loop import run
from .._stats import Stats
from ..testing import ServerProcess
from .options import positive_int
from .progress import format_summary

__all__ = ["add_arguments", "run_demo"]


def add_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("--requests", type=positive_int, default=100, help="default: 100")
    demo.add_argument("--delay", type=float, default=3.0, help="server delay in s (default: 3)")


def run_demo(args: argparse.Namespace) -> int:
    from .._api import fetch  # the engine, loaded only to run

    requests, delay = args.requests, args.delay
    print(
        f"Starting the bundled test server: its '/' sleeps {delay:g}s, like the tutorial's.",
        file=sys.stderr,
    )
    with ServerProcess("--delay", str(delay)) as server:
        print(f"Fetching {server.url}/ {requests} times, all at once...", file=sys.stderr)
        config = FetchConfig(
            limits=Limits(concurrency=requests),
            timeouts=Timeouts(total=delay + 30, read=delay + 20),
        )
        stats = Stats()

        async def fetch_batch() -> None:
            async for _ in fetch([f"{server.url}/"] * requests, config, stats=stats):
                pass

        run(fetch_batch())
    print(format_summary("corocrawl demo", stats.snapshot(), latency_sum=stats.latency_sum))
    print(
        f"\nOne at a time, {requests} requests of {delay:g}s need {requests * delay:g}s; with "
        f"coroutines they overlap, so the batch takes about {delay:g}s.\n"
        "Fetch your own list: corocrawl fetch urls.txt -o results.jsonl"
    )
    return 0
