"""A recrawl of an unchanged site against its first crawl: whole `corocrawl crawl` processes,
as a user runs them, side by side in each round.

    .venv/bin/python benchmarks/recrawl.py --pages 20000 --repeat 3 --per-host 64

Each round crawls the synthetic site into a fresh state file, waits for every page to be
due (`--revisit-after 1s`), then recrawls it with `--recrawl`: every page is asked for with
If-None-Match and answered 304. Reported: each process's wall time, the body bytes received
(the summary's `bytes`), and the ratios. The site is served by nginx from files (its ETag and
Last-Modified, and its 304s), so that the server is not what is measured; `--server
corocrawl` serves it from the bundled aiohttp server instead (each page with an ETag). Both
crawls run with `--per-host N` (and as many in flight in all): 64 is what `bench crawl` runs
at; the crawl's polite default, 4, leaves a recrawl of 304s waiting on round trips.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corocrawl.testing import NginxServer, ServerProcess
from corocrawl.testing._site import render_site_page


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--links", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-host", type=int, default=64)
    parser.add_argument("--server", choices=("nginx", "corocrawl"), default="nginx")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder, _site(args, Path(folder)) as server:
        for number in range(args.repeat):
            rounds.append(_round(server.url, Path(folder) / f"round-{number}", args.per_host))
            print(json.dumps(rounds[-1]), file=sys.stderr)
        cpu = server.cpu_seconds()
    summary = {
        "server": args.server,
        "server_cpu_s_all_rounds": None if cpu is None else round(cpu, 2),
        "pages": args.pages,
        "per_host": args.per_host,
        "nproc": os.cpu_count(),
        "first_s": _spread([one["first"]["wall"] for one in rounds]),
        "recrawl_s": _spread([one["recrawl"]["wall"] for one in rounds]),
        "time_ratio": _spread([one["recrawl"]["wall"] / one["first"]["wall"] for one in rounds]),
        "first_bytes": rounds[0]["first"]["bytes"],
        "recrawl_bytes": rounds[0]["recrawl"]["bytes"],
        "rounds": rounds,
    }
    print(json.dumps({key: value for key, value in summary.items() if key != "rounds"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


@contextlib.contextmanager
def _site(args: argparse.Namespace, folder: Path) -> Iterator[ServerProcess | NginxServer]:
    if args.server == "corocrawl":
        with ServerProcess("--delay", "0", "--site-pages", str(args.pages), "--site-links",
                           str(args.links)) as server:  # fmt: skip
            yield server
        return
    root = folder / "www"
    (root / "site").mkdir(parents=True)
    for page in range(args.pages):
        html = render_site_page(page, args.pages, args.links, 5120)
        (root / "site" / str(page)).write_text(html)
    with NginxServer(root, default_type="text/html") as server:
        yield server


def _round(url: str, folder: Path, per_host: int) -> dict[str, Any]:
    folder.mkdir()
    state = folder / "crawl.db"
    common = ["--state", str(state), "--revisit-after", "1s", "-q", "--per-host", str(per_host),
              "--concurrency", str(max(per_host, 64))]  # fmt: skip
    first = _crawl([f"{url}/site/0", *common], folder / "first")
    time.sleep(1.5)  # every page is due
    again = _crawl(["--recrawl", *common], folder / "recrawl")
    return {"first": first, "recrawl": again}


def _crawl(args: list[str], name: Path) -> dict[str, Any]:
    stats = name.with_suffix(".json")
    command = [sys.executable, "-m", "corocrawl", "crawl", *args, "-o", str(name) + ".jsonl",
               "--stats-json", str(stats)]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    document = json.loads(stats.read_text())
    return {"wall": round(wall, 3), "bytes": document["bytes"], "recorded": document["recorded"],
            "by_status": document["by_status"], "recrawl": document.get("recrawl")}  # fmt: skip


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
            "max": round(max(values), 3)}  # fmt: skip


if __name__ == "__main__":
    main()
