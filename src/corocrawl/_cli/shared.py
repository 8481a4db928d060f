"""A crawl shared through Redis: `crawl --frontier redis://...` seeds it (and works on it),
`worker` joins it from any machine, `status` shows it, `export` gathers its records."""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.resource_tracker
import os
import signal
import sys
from pathlib import Path
from typing import Any

import orjson

from .._crawl.crawler import Crawler, seed_requests
from .._crawl.pages import CrawlConfig
from .._exceptions import ConfigError, CorocrawlError, CrawlNotFound
from .._export import export_best_records
from .._loop import run
from .._sinks import JsonlSink
from .._urls import fetchable_url
from ..frontier import CrawlStatus, RedisFrontier
from .crawl import LABEL, crawl_config_from_args, drive_crawl, seeds_from
from .driver import EXIT_INTERRUPTED, INTERRUPT_FROM_PARENT, print_to_stderr
from .main import add_frontier_arguments, add_output_dir_argument, fetch_config_from_args

__all__ = [
    "add_export_arguments",
    "add_status_arguments",
    "add_worker_arguments",
    "run_export",
    "run_shared_crawl",
    "run_status",
    "run_worker",
]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# The settings every worker of a crawl must share, saved in Redis by whoever seeds it.
_SHARED = ("allow_domain", "include", "exclude", "max_depth", "sort_query",
           "max_links_per_page", "delay", "ignore_robots", "per_host")  # fmt: skip


def add_worker_arguments(worker: argparse.ArgumentParser) -> None:
    add_frontier_arguments(worker, required=True)
    add_output_dir_argument(worker)


def add_status_arguments(status: argparse.ArgumentParser) -> None:
    add_frontier_arguments(status, required=True)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.add_argument(
        "--hosts", type=int, default=10, help="hosts with the longest queues shown (default: 10)"
    )


def add_export_arguments(export: argparse.ArgumentParser) -> None:
    add_frontier_arguments(export, required=True)
    export.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="the workers' output files (default: --output-dir/NAME.*.jsonl)",
    )
    export.add_argument("--output-dir", type=Path, default=Path("."), metavar="DIR")
    export.add_argument("-o", "--output", default="-", help="one JSONL file (default: stdout)")


def run_shared_crawl(args: argparse.Namespace) -> int:
    """`corocrawl crawl --frontier redis://...`: save the settings, add the seeds, and work."""
    if args.state is not None:
        raise ConfigError("--state is for a SQLite frontier; a Redis frontier keeps the state")
    if args.max_pages is not None:
        raise ConfigError("--max-pages is not supported with a Redis frontier yet")
    if args.output != "-" or args.items is not None:
        raise ConfigError(
            "with a Redis frontier each worker writes its own file: use --output-dir, "
            "then 'corocrawl export' (and no --items)"
        )
    for seed in args.seeds:
        try:
            fetchable_url(seed)
        except ValueError as exc:
            raise ConfigError(f"seed {seed!r}: {exc}") from None
    fetch_config_from_args(args)  # reports a bad option before anything is written to Redis
    run(_seed(args))
    return _run_workers(args)


async def _seed(args: argparse.Namespace) -> None:
    seeds = list(args.seeds)
    if args.input is not None:
        seeds += await seeds_from(args.input)
    frontier = await RedisFrontier.open(args.frontier, args.crawl_id, join=False, create=True)
    try:
        for warning in await frontier.server_warnings():
            print_to_stderr(f"{LABEL}: warning: {warning}")
        settings = {name: getattr(args, name) for name in _SHARED}
        saved = await frontier.shared_settings()
        if saved is not None and saved != orjson.loads(orjson.dumps(settings)):
            print_to_stderr(
                f"{LABEL}: crawl {args.crawl_id!r} exists: its saved scope and politeness "
                "settings apply, not these"
            )
        current = saved or settings
        added = await frontier.add(seed_requests(seeds, sort_query=current["sort_query"]))
        # Saved only now: a worker that finds the settings finds the seeds queued too.
        await frontier.save_settings(settings)
        if saved is not None and added:
            print_to_stderr(
                f"{LABEL}: note: a new seed's site is crawled, but links to it from other hosts' "
                "pages are followed only by workers started after this (docs/scaling.md)"
            )
        print_to_stderr(f"{LABEL}: crawl {args.crawl_id!r}: {added} new seed(s) queued")
    finally:
        await frontier.close()


def run_worker(args: argparse.Namespace) -> int:
    """`corocrawl worker`: join the crawl with --workers processes, until it is finished."""
    run(_check_crawl(args))
    return _run_workers(args)


async def _check_crawl(args: argparse.Namespace) -> None:
    """Before any process starts: is the crawl there, and is Redis set up not to lose it?"""
    frontier = await RedisFrontier.open(args.frontier, args.crawl_id, join=False)
    try:
        await _settings(frontier)
        for warning in await frontier.server_warnings():
            print_to_stderr(f"corocrawl {args.command}: warning: {warning}")
    finally:
        await frontier.close()


def _run_workers(args: argparse.Namespace) -> int:
    if args.workers == 1:
        return run(_work(args))
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker_process, args=(args,), name=f"corocrawl-worker-{number}")
        for number in range(args.workers)
    ]
    interrupts = 0

    def forward(_signum: int, _frame: object) -> None:
        # Workers ignore Ctrl-C and SIGTERM, so however many processes a signal reaches (the
        # terminal's group, systemd's whole cgroup), each worker hears of it once, from here:
        # the first drains, the second abandons, as in one process.
        nonlocal interrupts
        interrupts += 1
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, INTERRUPT_FROM_PARENT)

    previous = {signum: signal.signal(signum, forward) for signum in _STOP_SIGNALS}
    # Blocked while the workers start, so that each inherits them blocked until its own
    # handlers are in place; the resource tracker is started first, as it unblocks them.
    multiprocessing.resource_tracker.ensure_running()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {*_STOP_SIGNALS, INTERRUPT_FROM_PARENT})
    try:
        try:
            for process in processes:
                process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a signal held runs `forward`
        for process in processes:
            process.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    codes = []
    for process in processes:
        code = process.exitcode or 0
        if code == -INTERRUPT_FROM_PARENT and interrupts:
            code = EXIT_INTERRUPTED  # stopped outside its crawl (starting, or closing)
        codes.append(1 if code < 0 else code)  # killed by another signal: a failure
    return max(codes)


def _worker_process(args: argparse.Namespace) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Until the crawl listens for INTERRUPT_FROM_PARENT (Interrupts), and after, it ends the
    # worker at once. Nothing is lost: a request is acknowledged only after its record is out.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {*_STOP_SIGNALS, INTERRUPT_FROM_PARENT})
    try:
        code = run(_work(args))
    except ConfigError as exc:
        print_to_stderr(f"corocrawl {args.command}: error: {exc}")
        code = 2
    except CorocrawlError as exc:
        print_to_stderr(f"corocrawl {args.command}: error: {exc}")
        code = 1
    sys.exit(code)


async def _work(args: argparse.Namespace) -> int:
    frontier = await RedisFrontier.open(
        args.frontier,
        args.crawl_id,
        heartbeat=args.heartbeat,
        lease_ttl=5 * args.heartbeat,
        create=False,
    )
    try:
        config = _crawl_config(await _settings(frontier), args)
        args.output_dir.mkdir(parents=True, exist_ok=True)
        path = args.output_dir / f"{args.crawl_id}.{frontier.worker_id}.jsonl"
        output = JsonlSink(path, append=True)
        crawler = Crawler(config, frontier=frontier, output=output)
        label = f"corocrawl {args.command}"
        if args.workers > 1:
            label += f" {frontier.worker_id}"
        return await drive_crawl(
            args,
            crawler,
            [],
            output,
            None,
            frontier,
            label=label,
            shared=True,
            interrupt_signals=(INTERRUPT_FROM_PARENT,) if args.workers > 1 else _STOP_SIGNALS,
        )
    finally:
        await frontier.close()


async def _settings(frontier: RedisFrontier) -> dict[str, Any]:
    settings = await frontier.shared_settings()
    if settings is None:  # its seeds are being queued: settings are saved after them
        raise CrawlNotFound(f"crawl {frontier.crawl_id!r} is still being seeded; try again")
    return settings


def _crawl_config(settings: dict[str, Any], args: argparse.Namespace) -> CrawlConfig:
    """The crawl's shared settings with this worker's own fetching options."""
    return crawl_config_from_args(
        argparse.Namespace(**{**vars(args), **settings, "max_pages": None})
    )


async def _status_if_any(args: argparse.Namespace) -> CrawlStatus | None:
    """None when the crawl is gone from Redis (or was never there)."""
    try:
        frontier = await RedisFrontier.open(args.frontier, args.crawl_id, join=False)
    except CrawlNotFound:
        return None
    try:
        return await frontier.status()
    finally:
        await frontier.close()


def run_status(args: argparse.Namespace) -> int:
    return run(_status(args))


async def _status(args: argparse.Namespace) -> int:
    frontier = await RedisFrontier.open(args.frontier, args.crawl_id, join=False)
    try:
        status = await frontier.status()
    finally:
        await frontier.close()
    counts = status.counts
    busiest = sorted(status.queued_by_host.items(), key=lambda item: -item[1])[: args.hosts]
    if args.json:
        document = {
            "crawl_id": args.crawl_id,
            "finished": status.finished,
            "pending": counts.pending,
            "in_flight": counts.leased,
            "done": counts.done,
            "failed": counts.failed,
            "skipped": counts.skipped,
            "partitions": status.partitions,
            "queued_by_host": dict(busiest),
            "workers": [
                {
                    "id": worker.id,
                    "last_seen_s": round(worker.last_seen, 1),
                    "partitions": worker.partitions,
                    "done": worker.done,
                }
                for worker in status.workers
            ],
        }
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    state = "finished" if status.finished else "running" if status.workers else "no live worker"
    print(f"crawl {args.crawl_id!r}: {state}")
    print(
        f"  pending {counts.pending:,}, in flight {counts.leased:,}, done {counts.done:,}, "
        f"failed {counts.failed:,}, skipped {counts.skipped:,}"
    )
    if busiest:
        print("  queued or in flight, by host: " + ", ".join(f"{h} {n:,}" for h, n in busiest))
    print(f"  live workers: {len(status.workers)} (hosts split in {status.partitions} partitions)")
    for worker in status.workers:
        print(
            f"    {worker.id}: {worker.partitions} partitions, {worker.done:,} done, "
            f"seen {worker.last_seen:.1f}s ago"
        )
    return 0


def run_export(args: argparse.Namespace) -> int:
    """One record per URL from the workers' files (see _export for which one is kept)."""
    status = run(_status_if_any(args))
    files = args.files or sorted(args.output_dir.glob(f"{args.crawl_id}.*.jsonl"))
    if not files:
        raise ConfigError(f"no output files of crawl {args.crawl_id!r} in {args.output_dir}")
    for path in files:
        if not path.is_file():
            raise ConfigError(f"{path}: {'a directory' if path.is_dir() else 'no such file'}")
    output = JsonlSink(args.output)
    try:
        urls = export_best_records(
            files,
            output,
            lambda bad: print_to_stderr(f"corocrawl export: {bad}"),
            scratch_dir=files[0].parent if args.output == "-" else Path(args.output).parent,
        )
    finally:
        output.close()
    if status is None:
        print_to_stderr(
            f"corocrawl export: {urls:,} URLs from {len(files)} file(s); crawl "
            f"{args.crawl_id!r} is not in Redis, so whether a file is missing cannot be checked"
        )
        return 0
    counts = status.counts
    final = counts.done + counts.failed + counts.skipped
    print_to_stderr(
        f"corocrawl export: {urls:,} URLs from {len(files)} file(s); Redis counts "
        f"{final:,} final, {counts.pending + counts.leased:,} not yet"
    )
    if urls < final:
        print_to_stderr(
            f"corocrawl export: warning: {final - urls:,} final URLs have no record in "
            "these files: is a worker's output file missing?"
        )
        return 1
    return 0
