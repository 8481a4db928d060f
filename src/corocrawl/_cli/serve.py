"""`corocrawl serve`: the bundled test server, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .._loop import run
from ..testing import run_server, server_config_from_args

__all__ = ["run_serve"]


def run_serve(args: argparse.Namespace) -> int:
    config = server_config_from_args(args)

    def announce(url: str) -> None:
        print(f"corocrawl serve: listening on {url}", flush=True)

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        run(run_server(config, ready=announce))
    return 0
