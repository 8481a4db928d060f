"""Time and peak memory of `corocrawl export` over N URLs in 4 workers' output files.

One record in 20 also has an earlier error record in another file (what a worker that died
before acknowledging leaves behind), so export has duplicates to settle. The crawl id has no
state in Redis, so the run ends with exit code 0 and Redis counts of 0.

    .venv/bin/python benchmarks/export_memory.py [--urls 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from redis_crawl import _start_redis


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        size = _write_worker_files(out, args.urls)
        redis_server, port = _start_redis(out)
        try:
            runs = [_export(out, port) for _ in range(args.repeat)]
        finally:
            redis_server.kill()
        exported = (out / "all.jsonl").read_bytes().count(b"\n")
    walls, peaks = [run[0] for run in runs], [run[1] for run in runs]
    print(f"{args.urls:,} URLs in 4 files ({size / 1e6:.0f} MB), {exported:,} records exported")
    for name, values, digits in (("wall s", walls, 1), ("peak MB", peaks, 0)):
        low, middle, high = min(values), statistics.median(values), max(values)
        print(f"{name:8} min {low:.{digits}f}  median {middle:.{digits}f}  max {high:.{digits}f}")


def _write_worker_files(folder: Path, urls: int) -> int:
    files = [(folder / f"bench.w{index}.jsonl").open("wb") for index in range(4)]
    for number in range(urls):
        url = f"http://host{number % 500}.example/page/{number}"
        record = {"url": url, "final_url": url, "status": 200, "elapsed": 0.01, "error": None}
        files[number % 4].write(orjson.dumps(record) + b"\n")
        if number % 20 == 0:
            failed = dict(record, status=None, error={"type": "ReadError", "message": "reset"})
            files[(number + 1) % 4].write(orjson.dumps(failed) + b"\n")
    for file in files:
        file.close()
    return sum(path.stat().st_size for path in folder.glob("bench.*.jsonl"))


def _export(folder: Path, port: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one export."""
    command = [sys.executable, "-m", "corocrawl", "export", "--frontier",
               f"redis://127.0.0.1:{port}/0", "--crawl-id", "bench", "--output-dir",
               str(folder), "-o", str(folder / "all.jsonl")]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"export failed: {command}")
    return wall, usage.ru_maxrss / 1024


if __name__ == "__main__":
    main()
