"""The synthetic site crawled on the Redis frontier by 1, 2 and 4 worker processes, and on the
SQLite frontier by one process: pages/s, Redis commands per page, Redis memory per URL.

    .venv/bin/python benchmarks/redis_crawl.py --hosts 8 --pages 2500 --repeat 3

Starts its own redis-server (AOF on, everysec, in a temporary directory) and the bundled
server (its own process, listening on 127.0.0.1..127.0.0.N). Each run is a fresh crawl id.
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

import redis

from corocrawl.testing import ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--pages", type=int, default=2500, help="pages per host")
    parser.add_argument("--links", type=int, default=10)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    hosts = [f"127.0.0.{number}" for number in range(1, args.hosts + 1)]
    contenders = ["sqlite"] + [f"redis-{count}" for count in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        redis_server = _start_redis(Path(folder))
        client = redis.Redis(port=redis_server[1])
        server_args = ["--delay", "0", "--site-pages", str(args.pages),
                       "--site-links", str(args.links)]  # fmt: skip
        for host in hosts[1:]:
            server_args += ["--also-listen", host]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
        with ServerProcess(*server_args) as site:
            seeds = [f"{site.url.replace('127.0.0.1', host)}/site/0" for host in hosts]
            for round_number in range(args.repeat):
                order = contenders if round_number % 2 == 0 else contenders[::-1]
                for name in order:
                    run = _crawl(name, seeds, client, Path(folder), round_number, redis_server[1])
                    runs[name].append(run)
                    print(f"round {round_number + 1}: {name}: {run}", file=sys.stderr, flush=True)
        redis_server[0].kill()
    rows = {name: _summary(found) for name, found in runs.items()}
    for name, row in rows.items():
        print(name, json.dumps(row))
    if args.json:
        document = {"argv": sys.argv[1:], "nproc": os.cpu_count(), "rows": rows, "runs": runs}
        args.json.write_text(json.dumps(document, indent=2))


def _crawl(
    name: str, seeds: list[str], client: redis.Redis, folder: Path, round_number: int, port: int
) -> dict[str, Any]:
    out = folder / f"{name}-{round_number}"
    common = ["--ignore-robots", "-q", "--concurrency", "64", "--per-host", "4"]
    if name == "sqlite":
        command = ["crawl", *seeds, "--state", str(out / "crawl.db"), "-o", str(out / "p.jsonl")]
        out.mkdir()
    else:
        workers = name.split("-")[1]
        command = ["crawl", *seeds, "--frontier", f"redis://127.0.0.1:{port}/0",
                   "--crawl-id", f"{name}-{round_number}", "--output-dir", str(out),
                   "--workers", workers]  # fmt: skip
    client.config_resetstat()
    memory_before = client.info("memory")["used_memory"]
    cpu_before = _redis_cpu(client)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "corocrawl", *command, *common], check=True)
    wall = time.perf_counter() - started
    pages = sum(path.read_bytes().count(b"\n") for path in out.glob("*.jsonl"))
    commands = client.info("commandstats")
    calls = sum(stat["calls"] for key, stat in commands.items() if key != "cmdstat_info")
    memory = client.info("memory")["used_memory"] - memory_before
    redis_cpu = _redis_cpu(client) - cpu_before
    return {
        "wall": round(wall, 3),
        "pages": pages,
        "pages_per_s": round(pages / wall, 1),
        "redis_commands_per_page": round(calls / pages, 2) if name != "sqlite" else None,
        "redis_bytes_per_url": round(memory / pages, 1) if name != "sqlite" else None,
        "redis_cpu_us_per_page": round(redis_cpu / pages * 1e6, 1) if name != "sqlite" else None,
        "top_commands": sorted(
            ((key.removeprefix("cmdstat_"), stat["calls"]) for key, stat in commands.items()),
            key=lambda item: -item[1],
        )[:8],
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [run["pages_per_s"] for run in runs]
    summary: dict[str, Any] = {
        "pages_per_s": {"min": min(rates), "median": statistics.median(rates), "max": max(rates)},
        "pages": runs[0]["pages"],
    }
    if runs[0]["redis_commands_per_page"] is not None:
        summary["redis_commands_per_page"] = statistics.median(
            run["redis_commands_per_page"] for run in runs
        )
        summary["redis_cpu_us_per_page"] = statistics.median(
            run["redis_cpu_us_per_page"] for run in runs
        )
        summary["redis_bytes_per_url"] = statistics.median(
            run["redis_bytes_per_url"] for run in runs
        )
    return summary


def _redis_cpu(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def _start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--appendonly", "yes", "--save", "", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return process, port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


if __name__ == "__main__":
    main()
