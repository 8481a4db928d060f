"""`corocrawl serve`: the bundled test server, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .._exceptions import ConfigError
from .._loop import run
from ..testing import ServerConfig
from ..testing._tls import ServerCertificate

__all__ = ["add_server_arguments", "run_serve", "server_config_from_args"]


def run_serve(args: argparse.Namespace) -> int:
    from ..testing import run_server  # the server's app, loaded only to run

    config = server_config_from_args(args)
    # SIGTERM (how ServerProcess and service managers stop it) ends it like Ctrl-C, so that
    # what it made on disk is removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.ExitStack() as cleanup:
        trust = ""
        if args.tls:
            directory = Path(
                cleanup.enter_context(tempfile.TemporaryDirectory(prefix="corocrawl-serve-"))
            )
            made = _make_certificate(directory, config)
            config = replace(config, tls_cert=str(made.chain), tls_key=str(made.key))
            trust = f" (a certificate made now: trust it with --ca-bundle {made.ca})"

        def announce(url: str) -> None:
            print(f"corocrawl serve: listening on {url}{trust}", flush=True)
            for address in config.also_listen:
                also = url.replace(f"//{config.host}:", f"//{address}:", 1)
                print(f"corocrawl serve: also listening on {also}", flush=True)

        try:
            with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
                run(run_server(config, ready=announce))
        except OSError as exc:  # the port is taken, or the address is not this machine's
            where = f"{config.host}:{config.port}"
            raise ConfigError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return 0


def _make_certificate(directory: Path, config: ServerConfig) -> ServerCertificate:
    from ..testing._tls import make_server_certificate

    hosts = ["127.0.0.1", "localhost", "::1", config.host, *config.also_listen]
    try:
        return make_server_certificate(directory, hosts)
    except ImportError:
        raise ConfigError(
            "serve --tls makes its certificate with trustme: pip install 'corocrawl[tls]'"
        ) from None


# (flag, parser of the value, help); each default is the ServerConfig field's.
_CONFIG_OPTIONS: tuple[tuple[str, Callable[[str], object], str], ...] = (
    ("--host", str, "address to listen on"),
    ("--port", int, "TCP port to listen on; 0 picks a free one"),
    ("--delay", float, "seconds that / waits before answering"),
    ("--site-pages", int, "number of pages of the synthetic site /site/N"),
    ("--site-links", int, "links on each site page"),
    ("--site-page-bytes", int, "approximate size of each site page in bytes"),
)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the test server's options (--host, --port, --delay, --site-*, --robots-file)."""
    defaults = ServerConfig()
    for flag, parse, help_text in _CONFIG_OPTIONS:
        field_name = flag.removeprefix("--").replace("-", "_")
        parser.add_argument(
            flag,
            type=parse,
            default=getattr(defaults, field_name),
            help=f"{help_text} (default: %(default)s)",
        )
    parser.add_argument(
        "--robots-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="serve this file at /robots.txt (default: none, /robots.txt answers 404)",
    )
    parser.add_argument(
        "--also-listen",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="also listen on ADDRESS, same port (repeatable): e.g. 127.0.0.2 for a second host",
    )
    parser.add_argument(
        "--robots-status",
        type=int,
        default=None,
        metavar="CODE",
        help="answer /robots.txt with this status, e.g. 503 (default: as --robots-file says)",
    )
    parser.add_argument(
        "--robots-redirect",
        default=None,
        metavar="URL",
        help="answer /robots.txt with a 301 to URL (a path, or another host); the rules of "
        "--robots-file are then served at /robots-moved.txt",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a certificate made at start, signed by a CA of its own whose "
        "file it names (give that to --ca-bundle)",
    )
    parser.add_argument(
        "--tls-cert",
        type=_readable_file,
        default=None,
        metavar="FILE",
        help="serve HTTPS with this certificate chain (PEM), with --tls-key",
    )
    parser.add_argument(
        "--tls-key",
        type=_readable_file,
        default=None,
        metavar="FILE",
        help="the private key (PEM) of --tls-cert",
    )


def server_config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Build a ServerConfig from parsed options; ConfigError names a bad value or file."""
    robots_file: Path | None = args.robots_file
    try:
        config = _server_config(args, robots_file)
    except ValueError as exc:  # ServerConfig's own checks
        raise ConfigError(str(exc)) from None
    if args.tls and config.tls_cert is not None:
        raise ConfigError("give --tls (a certificate made at start) or --tls-cert, not both")
    if config.tls_cert is not None:
        try:  # a bad pair is named now, not taken for a port that cannot be listened on
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                config.tls_cert, config.tls_key
            )
        except ssl.SSLError as exc:
            raise ConfigError(
                f"--tls-cert {config.tls_cert} with --tls-key {config.tls_key}: {exc.reason or exc}"
            ) from None
    return config


def _server_config(args: argparse.Namespace, robots_file: Path | None) -> ServerConfig:
    return ServerConfig(
        host=args.host,
        port=args.port,
        delay=args.delay,
        site_pages=args.site_pages,
        site_links=args.site_links,
        site_page_bytes=args.site_page_bytes,
        robots_txt=None if robots_file is None else _read_robots_file(robots_file),
        robots_status=args.robots_status,
        robots_redirect=args.robots_redirect,
        also_listen=tuple(args.also_listen),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


def _readable_file(value: str) -> str:
    try:
        Path(value).open("rb").close()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {value!r}: {exc.strerror}") from None
    return value


def _read_robots_file(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read robots file {path}: {error}") from None
