"""`corocrawl bench`: measured comparisons, each contender in its own process."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from .._bench._contenders import CONTENDERS
from .._bench._crawl_contenders import CRAWL_CONTENDERS
from .._bench._seed import SEED_ROWS
from .._urls import partition

if TYPE_CHECKING:  # loaded to run a suite: every command's parser is built at each start
    from ..testing import ServerProcess
    from ..testing._nginx import NginxServer

__all__ = ["add_bench_commands"]

THROUGHPUT_CONTENDERS = ("aiohttp", "corocrawl-aiohttp", "corocrawl-curl", "httpx", "scrapy")
SCALE_CONTENDERS = ("aiohttp", "corocrawl-aiohttp", "corocrawl-curl")


def add_bench_commands(bench: argparse.ArgumentParser) -> None:
    suites = bench.add_subparsers(dest="suite", required=True, metavar="SUITE")

    seed = suites.add_parser(
        "seed",
        help="the tutorial's comparison: sequential, the asyncio traps, process pools, "
        "asyncio + aiohttp, processes + coroutines, corocrawl",
        description="Run every strategy of the tutorial against the bundled server, each in its "
        "own process, and print the tutorial's figures beside ours.",
    )
    seed.add_argument("--requests", type=int, default=100, help="default: 100, as the tutorial")
    seed.add_argument(
        "--trap-requests",
        type=int,
        default=5,
        help="requests for the blocking-in-async rows (default: 5, as the tutorial)",
    )
    seed.add_argument(
        "--delay",
        type=float,
        default=3.0,
        help="seconds the server sleeps per request (default: 3, as the tutorial)",
    )
    seed.add_argument(
        "--quick",
        action="store_true",
        help="a 0.1 s delay, so the whole run takes well under a minute",
    )
    seed.add_argument(
        "--budget",
        type=float,
        default=400.0,
        help="skip a strategy expected to take longer, and say so (default: 400 s)",
    )
    seed.add_argument("--only", type=_strategies, help="comma-separated strategies to run")
    seed.add_argument("--skip", type=_strategies, default=[], help="strategies not to run")
    seed.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    seed.add_argument("--plot", metavar="FILE.png", help="draw a bar chart (needs the plot extra)")
    seed.set_defaults(run=_run_seed)

    throughput = suites.add_parser(
        "throughput",
        help="requests/s against a zero-delay endpoint, corocrawl vs a raw aiohttp loop",
    )
    throughput.add_argument("--requests", type=int, default=20_000, help="default: 20000")
    throughput.add_argument("--concurrency", type=int, default=64, help="default: 64")
    throughput.add_argument(
        "--server",
        choices=("auto", "nginx", "corocrawl"),
        default="auto",
        help="what answers: nginx serving a 1 KiB file (cheaper per request than any Python "
        "server, so the clients are measured), or corocrawl serve's /delay/0 (default: nginx "
        "where installed)",
    )
    _common(throughput, (*THROUGHPUT_CONTENDERS, "corocrawl-curl-per-ip"),
            default=THROUGHPUT_CONTENDERS)  # fmt: skip
    throughput.set_defaults(run=_run_throughput)

    crawl = suites.add_parser(
        "crawl",
        help="crawl the synthetic site: corocrawl vs a minimal aiohttp crawler vs Scrapy",
    )
    crawl.add_argument("--pages", type=int, default=20_000, help="site pages (default: 20000)")
    crawl.add_argument("--links", type=int, default=10, help="links per page (default: 10)")
    crawl.add_argument("--page-bytes", type=int, default=5120, help="page size (default: 5120)")
    crawl.add_argument("--concurrency", type=int, default=64, help="default: 64")
    crawl.add_argument(
        "--hosts",
        type=int,
        default=1,
        help="serve the site on this many loopback addresses (127.0.0.x), one seed each, "
        "spread evenly over the workers of crawl-corocrawl-workers-N (default: 1)",
    )
    _common(crawl, CRAWL_CONTENDERS, default=CRAWL_CONTENDERS[:5])
    crawl.set_defaults(run=_run_crawl_bench)

    scale = suites.add_parser(
        "scale", help="N requests of a 1 s endpoint all in flight at once: time and memory"
    )
    scale.add_argument(
        "--sizes",
        type=_sizes,
        default=[1000, 5000, 10000],
        help="comma-separated N (default: 1000,5000,10000)",
    )
    scale.add_argument("--delay", type=float, default=1.0, help="endpoint delay (default: 1)")
    scale.add_argument(
        "--server",
        choices=("auto", "nginx", "corocrawl"),
        default="auto",
        help="what answers: nginx with its echo module (echo_sleep: a timer, no Python, so the "
        "clients are measured), or corocrawl serve's /delay/N (default: nginx where nginx and "
        "its echo module are installed)",
    )
    _common(scale, SCALE_CONTENDERS)
    scale.set_defaults(run=_run_scale)


def _common(
    parser: argparse.ArgumentParser,
    contenders: tuple[str, ...],
    *,
    default: tuple[str, ...] | None = None,
) -> None:
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender (default: 3)")
    parser.add_argument(
        "--contenders",
        type=_contender_names,
        default=list(default or contenders),
        help=f"comma-separated, of {', '.join(contenders)} "
        f"(default: {','.join(default or contenders)})",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="over HTTPS: the server gets a certificate made at start, the clients its CA",
    )


def _run_seed(args: argparse.Namespace) -> int:
    from rich.console import Console  # loaded only to run (--help stays quick)

    from .._bench._report import plot_seed, print_seed_table
    from .._bench._seed import run_seed, speedups
    from ..testing import ServerProcess

    delay = 0.1 if args.quick else args.delay
    rows = [
        row
        for row in SEED_ROWS
        if (args.only is None or row.strategy in args.only) and row.strategy not in args.skip
    ]
    console = Console(stderr=True)
    with ServerProcess("--delay", str(delay)) as server:
        console.print(f"server: corocrawl serve --delay {delay:g} (own process) at {server.url}")
        outcomes = run_seed(
            f"{server.url}/",
            rows,
            delay=delay,
            requests=args.requests,
            trap_requests=args.trap_requests,
            budget=args.budget,
            say=lambda text: console.print(text, highlight=False),
        )
    speedup = speedups(outcomes, delay)
    print_seed_table(outcomes, speedup, delay=delay, console=Console(width=160))
    if args.plot:
        plot_seed(outcomes, args.plot, delay=delay)
    if args.json:
        _write_json(args.json, "seed", [outcome.to_dict() for outcome in outcomes], delay=delay)
    return 0


def _run_throughput(args: argparse.Namespace) -> int:
    from ..testing._nginx import nginx_executable

    nginx = args.server == "nginx" or (args.server == "auto" and nginx_executable() is not None)
    what = "a 1 KiB file from nginx" if nginx else "/delay/0"
    title = (
        f"throughput: {args.requests:,} distinct GETs of {what}"
        f"{' over TLS' if args.tls else ''}, concurrency {args.concurrency}"
    )
    return _bench(args, title, "/file" if nginx else "/delay/0",
                  [(args.requests, args.concurrency)], nginx=nginx)  # fmt: skip


def _run_crawl_bench(args: argparse.Namespace) -> int:
    hosts = loopback_hosts(args.hosts)
    title = (
        f"crawl: a synthetic site of {args.pages:,} pages of {args.page_bytes:,} bytes, "
        f"{args.links} links each, on {len(hosts)} host(s), concurrency {args.concurrency}, "
        "robots off (requests = pages x hosts)"
    )
    site: tuple[str, ...] = ("--site-pages", str(args.pages), "--site-links", str(args.links),
                             "--site-page-bytes", str(args.page_bytes))  # fmt: skip
    site += tuple(arg for host in hosts[1:] for arg in ("--also-listen", host))
    return _bench(args, title, "/site/0", [(args.pages * len(hosts), args.concurrency)],
                  server_args=site, baseline="crawl-aiohttp", hosts=hosts)  # fmt: skip


def loopback_hosts(count: int) -> list[str]:
    """`count` addresses 127.0.0.x, chosen so that 2 workers own equally many of them (host
    partitioning would otherwise decide by chance how evenly the work is spread)."""
    hosts: list[str] = []
    owned = [0, 0]
    for last in range(1, 255):
        host = f"127.0.0.{last}"
        owner = partition(f"http://{host}/", 2)
        if owned[owner] < -(-count // 2):
            hosts.append(host)
            owned[owner] += 1
        if len(hosts) == count:
            return hosts
    raise ValueError(f"cannot find {count} loopback hosts")


def _run_scale(args: argparse.Namespace) -> int:
    from ..testing._nginx import nginx_echo_module, nginx_executable

    nginx = args.server == "nginx" or (
        args.server == "auto" and nginx_executable() is not None and nginx_echo_module() is not None
    )
    title = f"scale: N requests of /delay/{args.delay:g}, all in flight (ideal: {args.delay:g}s)"
    return _bench(args, title, f"/delay/{args.delay:g}", [(size, size) for size in args.sizes],
                  nginx=nginx, delay=args.delay)  # fmt: skip


def _bench(
    args: argparse.Namespace,
    title: str,
    path: str,
    sizes: list[tuple[int, int]],
    *,
    server_args: tuple[str, ...] = (),
    baseline: str = "aiohttp",
    hosts: Sequence[str] = ("127.0.0.1",),
    nginx: bool = False,
    delay: float | None = None,
) -> int:
    """Every contender at every (requests, concurrency) size, against one server process."""
    from rich.console import Console

    from .._bench._report import print_table
    from .._bench._suites import Row, run_throughput

    console = Console(stderr=True)
    rows: list[Row] = []
    with _server(nginx, args.tls, server_args, delay) as (server, ca_file):
        kind = "nginx, 1 worker" if nginx else "corocrawl serve (aiohttp.web)"
        console.print(f"server: {kind}, own process, at {server.url}")
        for requests, concurrency in sizes:
            rows += run_throughput(
                " ".join(f"{server.url.replace('127.0.0.1', host)}{path}" for host in hosts),
                args.contenders,
                requests=requests,
                concurrency=concurrency,
                repeat=args.repeat,
                say=lambda text: console.print(text, highlight=False),
                server_cpu=server.cpu_seconds,
                ca_file=ca_file,
            )
    print_table(title, rows, Console(width=180), baseline=baseline)
    if args.json:
        _write_json(args.json, title, [row.to_dict() for row in rows])
    return 0


@contextlib.contextmanager
def _server(
    nginx: bool, tls: bool, server_args: tuple[str, ...], delay: float | None = None
) -> Iterator[tuple[ServerProcess | NginxServer, str | None]]:
    """The server of a suite, and the CA file its clients must trust (with `tls`): nginx
    answers every path with a 1 KiB file, or with `delay` a short text after that delay."""
    from ..testing import ServerProcess
    from ..testing._nginx import NginxServer
    from ..testing._tls import make_server_certificate

    if not nginx:
        with ServerProcess("--delay", "0", *server_args, *(("--tls",) if tls else ())) as server:
            yield server, server.ca_file
        return
    with tempfile.TemporaryDirectory(prefix="corocrawl-bench-") as folder:
        root = Path(folder)
        (root / "file").write_bytes(bytes(range(256)) * 4)  # 1 KiB
        made = make_server_certificate(root, ["127.0.0.1", "localhost"]) if tls else None
        with NginxServer(
            root,
            every_path="file",
            tls=None if made is None else (made.chain, made.key),
            delay=delay,
        ) as server:
            yield server, None if made is None else str(made.ca)


def _write_json(path: str, title: str, rows: list[dict[str, object]], **extra: object) -> None:
    """Results for machines, with the machine they were measured on."""
    document = {"title": title, **extra, "machine": _machine(), "rows": rows}
    with open(path, "wb") as out:
        out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2))


def _machine() -> dict[str, object]:
    from importlib.metadata import version

    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "aiohttp": version("aiohttp"),
        "uvloop": version("uvloop"),
        "argv": sys.argv[1:],
    }


def _names_of(kind: str, known: set[str]) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated list of known names."""

    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in known]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {unknown}; known: {', '.join(sorted(known))}"
            )
        return names

    return parse


_contender_names = _names_of("contenders", set(CONTENDERS))
_strategies = _names_of("strategies", {row.strategy for row in SEED_ROWS})


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list like 1000,5000") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError("sizes must be at least 1")
    return sizes
