"""A recrawl of an unchanged site against its first crawl: whole `corocrawl crawl` processes,
as a user runs them, side by side in each round.

    .venv/bin/python benchmarks/recrawl.py --pages 20000 --repeat 3 --per-host 64

Each round crawls the bundled server's synthetic site (each page with an ETag) into a fresh
state file, waits for every page to be due (`--revisit-after 1s`), then recrawls it with
`--recrawl`: every page is asked for with If-None-Match and answered 304. Reported: each
process's wall time, the body bytes received (the summary's `bytes`), and the ratios. Both
crawls run with `--per-host N` (and as many in flight in all): 64 is what `bench crawl` runs
at; the crawl's polite default, 4, leaves a recrawl of 304s waiting on round trips.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from corocrawl.testing import ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--links", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-host", type=int, default=64)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    site = ("--delay", "0", "--site-pages", str(args.pages), "--site-links", str(args.links))
    rounds: list[dict[str, Any]] = []
    with ServerProcess(*site) as server, tempfile.TemporaryDirectory() as folder:
        for number in range(args.repeat):
            rounds.append(_round(server.url, Path(folder) / f"round-{number}", args.per_host))
            print(json.dumps(rounds[-1]), file=sys.stderr)
    summary = {
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
