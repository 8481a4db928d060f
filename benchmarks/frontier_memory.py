"""Peak memory of a crawl whose SQLite frontier grows to 1,000,000 URLs.

The bundled server's synthetic site has N pages of 10 links each; page i links to its tree
children 10i+1 .. 10i+10, so after fetching the first N/10 pages the crawl has discovered all
N. `--max-pages N/10` then stops fetching, and every URL left in the frontier is recorded as
skipped (max-pages): the frontier holds, and the output accounts for, all N URLs.

    .venv/bin/python benchmarks/frontier_memory.py [--pages 1000000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from corocrawl.testing import ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    fetched = args.pages // 10
    server_args = ("--site-pages", str(args.pages), "--site-links", "10",
                   "--site-page-bytes", "2048")  # fmt: skip
    with ServerProcess(*server_args) as server, tempfile.TemporaryDirectory() as folder:
        state, out = Path(folder) / "crawl.db", Path(folder) / "pages.jsonl"
        command = [
            sys.executable, "-m", "corocrawl", "crawl", f"{server.url}/site/0",
            "--state", str(state), "-o", str(out), "--max-pages", str(fetched),
            "--ignore-robots", "--concurrency", str(args.concurrency),
            "--per-host", str(args.concurrency), "-q",
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True)
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        records = sum(1 for _ in out.open("rb"))
        print(f"site pages: {args.pages:,}; fetched at most: {fetched:,}")
        print(f"records: {records:,}; state file: {state.stat().st_size / 1e6:,.0f} MB")
        print(f"wall: {wall:,.1f} s; peak RSS of the crawl process: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
