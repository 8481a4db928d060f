"""Time and peak memory of `corocrawl report` over a crawl output of N records.

The records are what a crawl of many sites writes (each as `corocrawl crawl` records it, its
headers included): 50,000 hosts of which a few are large, 1 record in 8 skipped (offsite,
robots, depth), 1 in 25 a 404 and 1 in 200 a 5xx, 1 in 150 a failure, 1 in 20 a redirect
(chains of 1 to 3 hops, and a loop now and then), over an hour of fetch times. Every capped
structure of the report is full well before the end.

    .venv/bin/python benchmarks/report_scale.py [--records 1000000] [--repeat 3]

Each run is `corocrawl report FILE -o report.html` in a process of its own, measured by
`/usr/bin/time -v` (wall clock and maximum resident set size).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

_SKIPS = ("offsite", "offsite", "robots", "depth")
_ERRORS = (("ReadError", "body broken off"), ("ConnectTimeout", "no connection in 10 s"),
           ("DNSError", "name does not resolve"))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    corocrawl = Path(sys.executable).with_name("corocrawl")
    with tempfile.TemporaryDirectory() as folder:
        records = Path(folder) / "pages.jsonl"
        size = write_records(records, args.records)
        runs = [run_report(corocrawl, records, Path(folder) / "report.html")
                for _ in range(args.repeat)]  # fmt: skip
        report_size = (Path(folder) / "report.html").stat().st_size
    walls, peaks = [run[0] for run in runs], [run[1] for run in runs]
    print(f"{args.records:,} records ({size / 1e6:.0f} MB); report {report_size / 1e3:.0f} kB; "
          f"nproc {os.cpu_count()}")  # fmt: skip
    for name, values, digits in (("wall s", walls, 1), ("peak MB", peaks, 0)):
        low, middle, high = min(values), statistics.median(values), max(values)
        print(f"{name:8} min {low:.{digits}f}  median {middle:.{digits}f}  max {high:.{digits}f}")


def write_records(path: Path, count: int) -> int:
    rng = random.Random(16)
    start = 1_796_000_000.0
    with path.open("wb") as out:
        number = 0
        while number < count:
            # A few large sites and a long tail of small ones.
            site = rng.randrange(50) if rng.random() < 0.5 else rng.randrange(50_000)
            host = f"www.site{site}.example"
            page = f"https://{host}/section/{rng.randrange(1000)}/page-{number}.html"
            moment = start + 3600 * number / count
            for record in page_records(rng, host, page, moment):
                out.write(orjson.dumps(record) + b"\n")
                number += 1
    return path.stat().st_size


def page_records(rng: random.Random, host: str, url: str, moment: float) -> list[dict[str, Any]]:
    found_on = f"https://{host}/section/{rng.randrange(1000)}/"
    draw = rng.random()
    if draw < 0.125:
        return [skipped(url, found_on, rng.choice(_SKIPS))]
    if draw < 0.175:  # a chain of redirects, or a loop
        hops = rng.randint(1, 3)
        chain = [f"{url}?hop={hop}" for hop in range(hops)] + [url]
        if rng.random() < 0.05:
            chain[-1] = chain[0]
        records = [
            fetched(chain[hop], found_on if hop == 0 else chain[hop - 1], moment, rng,
                    status=rng.choice((301, 302, 308)), redirect=chain[hop + 1])
            for hop in range(hops)
        ]  # fmt: skip
        if chain[-1] != chain[0]:
            records.append(fetched(url, chain[-2], moment, rng))
        return records
    if draw < 0.18167:
        kind, message = rng.choice(_ERRORS)
        record = fetched(url, found_on, moment, rng, status=None)
        record.update(error={"type": kind, "message": message}, final_url=None, headers={},
                      bytes=0, content_type=None, http_version=None)  # fmt: skip
        return [record]
    status = 404 if draw < 0.22167 else 503 if draw < 0.22667 else 200
    return [fetched(url, found_on, moment, rng, status=status)]


def fetched(url: str, found_on: str, moment: float, rng: random.Random, *,
            status: int | None = 200, redirect: str | None = None) -> dict[str, Any]:  # fmt: skip
    size = int(rng.lognormvariate(9.5, 1.2)) if status == 200 else 162
    elapsed = round(rng.lognormvariate(-2.0, 1.0), 6)
    headers = {"content-type": "text/html; charset=utf-8", "content-length": str(size),
               "server": "nginx/1.22.1", "etag": f'"{rng.getrandbits(48):x}"'}  # fmt: skip
    if redirect is not None:
        headers["location"] = redirect
    record: dict[str, Any] = {
        "url": url, "final_url": url, "status": status, "content_type": "text/html",
        "bytes": size, "elapsed": elapsed, "elapsed_total": elapsed, "ttfb": elapsed / 2,
        "attempts": 1, "redirects": 0, "http_version": "HTTP/2", "headers": headers,
        "error": None, "depth": rng.randint(1, 6), "found_on": found_on,
        "title": "A page" if status == 200 else None, "links": 40 if status == 200 else None,
        "canonical": None, "skip": None,
    }  # fmt: skip
    if redirect is not None:
        record["redirect"] = redirect
    record["fetched_at"] = round(moment + elapsed, 3)
    return record


def skipped(url: str, found_on: str, reason: str) -> dict[str, Any]:
    return {
        "url": url, "final_url": None, "status": None, "content_type": None, "bytes": 0,
        "elapsed": 0.0, "elapsed_total": 0.0, "ttfb": None, "attempts": 0, "redirects": 0,
        "http_version": None, "headers": {}, "error": None, "skip": reason, "depth": 1,
        "found_on": found_on, "title": None, "links": None, "canonical": None,
    }  # fmt: skip


def run_report(corocrawl: Path, records: Path, output: Path) -> tuple[float, float]:
    done = subprocess.run(
        ["/usr/bin/time", "-v", str(corocrawl), "report", str(records), "-o", str(output), "-q"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if wall is None or peak is None:
        raise RuntimeError(f"no figures from /usr/bin/time -v:\n{done.stderr}")
    hours, minutes, seconds = wall.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), int(peak[1]) / 1024


if __name__ == "__main__":
    main()
