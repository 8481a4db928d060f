"""A crawl shared through Redis, from the command line: `crawl --frontier redis://...` starts it
(and works on it), `worker` joins it from any machine, `status` shows it, `export` gathers its
records. Each is a call of `corocrawl.distributed`, with progress, summaries and exit codes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from .._config import CrawlConfig
from .._exceptions import ConfigError, CorocrawlError
from .._loop import run
from .._workers.spawn import INTERRUPT_FROM_PARENT, STOP_SIGNALS
from .driver import EXIT_INTERRUPTED, Reporter, drive, frontier_report, print_to_stderr
from .options import (
    add_frontier_arguments,
    add_output_dir_argument,
    all_seeds,
    check_output_paths,
    crawl_config_from_args,
    fetch_config_from_args,
)

__all__ = [
    "add_export_arguments",
    "add_status_arguments",
    "add_worker_arguments",
    "run_export",
    "run_shared_crawl",
    "run_status",
    "run_worker",
]


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
    export.add_argument(
        "--output-dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="where the workers wrote NAME.WORKER.jsonl (default: the current directory)",
    )
    export.add_argument("-o", "--output", default="-", help="one JSONL file (default: stdout)")


@dataclass(frozen=True, slots=True)
class _WorkerOptions:
    """What each worker process of the command needs: no argparse crosses to a process."""

    frontier: str
    crawl_id: str
    config: CrawlConfig
    output_dir: Path
    heartbeat: float
    outage_limit: float
    label: str
    quiet: bool
    stats_json: Path | None
    processes: int
    stats_every: float | None = None
    metrics_port: str | None = None


def run_shared_crawl(args: argparse.Namespace) -> int:
    """`corocrawl crawl --frontier redis://...`: start the crawl (or add seeds), then work."""
    from .. import distributed

    label = "corocrawl crawl"
    if args.frontier is None or args.crawl_id is None:
        raise ConfigError("a shared crawl needs both --frontier and --crawl-id")
    if not args.frontier.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"--frontier {args.frontier!r}: give a redis:// URL")
    if args.state is not None:
        raise ConfigError("--state is for a SQLite frontier; a Redis frontier keeps the state")
    if args.max_pages is not None:
        raise ConfigError("--max-pages is not supported with a Redis frontier yet")
    if args.format not in (None, "jsonl"):
        raise ConfigError("a shared crawl's workers write JSON Lines: leave out --format")
    if args.output != "-" or args.items is not None or args.handler is not None or args.extract:
        raise ConfigError(
            "with a Redis frontier each worker writes its own file: use --output-dir, "
            "then 'corocrawl export' (and no --items, --handler or --extract)"
        )
    # Every option and seed is checked before anything is written to Redis.
    config = crawl_config_from_args(args)
    check_output_paths(args)

    async def start() -> distributed.StartReport:
        seeds = await all_seeds(args, lambda text: print_to_stderr(f"{label}: {text}"))
        return await distributed.start(
            args.frontier, args.crawl_id, seeds, config, recrawl=args.recrawl
        )

    report = run(start())
    for warning in report.server_warnings:
        print_to_stderr(f"{label}: warning: {warning}")
    if report.settings_differ:
        print_to_stderr(
            f"{label}: crawl {args.crawl_id!r} exists: its saved scope, politeness and revisit "
            "settings apply, not these"
        )
    if report.existed and report.added:
        print_to_stderr(
            f"{label}: note: a new seed's site is crawled, but links to it from other hosts' "
            "pages are followed only by workers started after this (docs/scaling.md)"
        )
    print_to_stderr(f"{label}: crawl {args.crawl_id!r}: {report.added} new seed(s) queued")
    if args.recrawl:
        print_to_stderr(f"{label}: recrawl: {report.revisited:,} page(s) due, queued again")
    return _work(_options(args, config, label))


def run_worker(args: argparse.Namespace) -> int:
    """`corocrawl worker`: join the crawl with --workers processes, until it is finished."""
    from .. import distributed

    label = "corocrawl worker"
    # Fetching options only: the crawl's own scope and politeness come from Redis.
    config = CrawlConfig(fetch=fetch_config_from_args(args))
    check_output_paths(args)
    for warning in run(distributed.ensure_started(args.frontier, args.crawl_id)):
        print_to_stderr(f"{label}: warning: {warning}")
    return _work(_options(args, config, label))


def _options(args: argparse.Namespace, config: CrawlConfig, label: str) -> _WorkerOptions:
    if args.metrics_port is not None and args.workers > 1:
        raise ConfigError(
            "--metrics-port serves one process's metrics: in a shared crawl, give it to a "
            "worker of one process (one 'corocrawl worker --metrics-port' per port)"
        )
    return _WorkerOptions(
        frontier=args.frontier,
        crawl_id=args.crawl_id,
        config=config,
        output_dir=args.output_dir,
        heartbeat=args.heartbeat,
        outage_limit=args.outage_limit,
        label=label,
        quiet=args.quiet,
        stats_json=args.stats_json,
        stats_every=args.stats_every,
        processes=args.workers,
        metrics_port=args.metrics_port,
    )


def _work(options: _WorkerOptions) -> int:
    """Work in this process, or in `processes` worker processes, until the crawl is done."""
    from .._workers.spawn import run_processes

    if options.processes == 1:
        return run(_work_here(options))
    _warn_if_too_few_hosts(options)
    exits = run_processes(_worker_process, (options,), options.processes, name="corocrawl-worker")
    codes = []
    for code in exits.codes:
        if exits.interrupted_outside(code):
            code = EXIT_INTERRUPTED  # stopped outside its crawl (starting, or closing)
        codes.append(1 if code < 0 else code)  # killed by another signal: a failure
    return max(codes)


def _warn_if_too_few_hosts(options: _WorkerOptions) -> None:
    from .. import distributed

    hosts = len(run(distributed.status(options.frontier, options.crawl_id)).queued_by_host)
    if hosts < options.processes:
        print_to_stderr(
            f"{options.label}: note: {hosts} host(s) have requests queued now, for "
            f"{options.processes} processes: each host is served by one process at a time, "
            "so some will wait until more hosts are found"
        )


def _worker_process(options: _WorkerOptions) -> None:
    try:
        code = run(_work_here(options))
    except ConfigError as exc:
        print_to_stderr(f"{options.label}: error: {exc}")
        code = 2
    except CorocrawlError as exc:
        print_to_stderr(f"{options.label}: error: {exc}")
        code = 1
    sys.exit(code)


async def _work_here(options: _WorkerOptions) -> int:
    from .. import distributed

    async with distributed.open_worker(
        options.frontier,
        options.crawl_id,
        options.config,
        output_dir=options.output_dir,
        heartbeat=options.heartbeat,
        outage_limit=options.outage_limit,
    ) as worker:
        label = options.label
        if options.processes > 1:
            label += f" {worker.worker_id}"
        return await drive(
            worker,
            worker.crawler.run([]),
            reporter=Reporter(label),
            sinks=[worker.output],
            quiet=options.quiet,
            stats_json=options.stats_json,
            stats_every=options.stats_every,
            frontier=worker.frontier,
            metrics=options.metrics_port,
            signals=(INTERRUPT_FROM_PARENT,) if options.processes > 1 else STOP_SIGNALS,
            extra_report=frontier_report(worker.frontier, shared=True),
        )


def run_status(args: argparse.Namespace) -> int:
    from .. import distributed

    status = run(distributed.status(args.frontier, args.crawl_id))
    counts = status.counts
    busiest = sorted(status.queued_by_host.items(), key=lambda item: -item[1])[: args.hosts]
    if args.json:
        document = {
            "crawl_id": args.crawl_id,
            "finished": status.finished,
            "pending": counts.pending,
            "in_flight": counts.leased,
            "fetching": status.fetching,
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
                    "fetching": worker.fetching,
                }
                for worker in status.workers
            ],
        }
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    state = "finished" if status.finished else "running" if status.workers else "no live worker"
    print(f"crawl {args.crawl_id!r}: {state}")
    print(
        f"  pending {counts.pending:,}, claimed {counts.leased:,} (fetching {status.fetching:,}), "
        f"done {counts.done:,}, failed {counts.failed:,}, skipped {counts.skipped:,}"
    )
    if busiest:
        print("  queued or in flight, by host: " + ", ".join(f"{h} {n:,}" for h, n in busiest))
    print(f"  live workers: {len(status.workers)} (hosts split in {status.partitions} partitions)")
    for worker in status.workers:
        print(
            f"    {worker.id}: {worker.partitions} partitions, fetching {worker.fetching:,}, "
            f"{worker.done:,} done, seen {worker.last_seen:.1f}s ago"
        )
    return 0


def run_export(args: argparse.Namespace) -> int:
    """One record per URL from the workers' files (see _export for which one is kept)."""
    from .. import distributed

    report = distributed.export(
        args.frontier,
        args.crawl_id,
        args.output,
        files=args.files,
        output_dir=args.output_dir,
        on_bad_line=lambda bad: print_to_stderr(f"corocrawl export: {bad}"),
    )
    files = len(report.files)
    if report.status is None:
        print_to_stderr(
            f"corocrawl export: {report.urls:,} URLs from {files} file(s); crawl "
            f"{args.crawl_id!r} is not in Redis, so whether a file is missing cannot be checked"
        )
        return 0
    counts = report.status.counts
    final = counts.done + counts.failed + counts.skipped
    print_to_stderr(
        f"corocrawl export: {report.urls:,} URLs from {files} file(s); Redis counts "
        f"{final:,} final, {counts.pending + counts.leased:,} not yet"
    )
    if report.missing:
        print_to_stderr(
            f"corocrawl export: warning: {report.missing:,} final URLs have no record in "
            "these files: is a worker's output file missing?"
        )
        return 1
    return 0
