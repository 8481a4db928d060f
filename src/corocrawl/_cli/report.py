"""`corocrawl report`: one self-contained HTML page of the records of fetches and crawls."""

from __future__ import annotations

import argparse

from .driver import print_to_stderr

__all__ = ["add_arguments", "run_report"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="RECORDS",
        help="output files of 'corocrawl fetch' or 'crawl': JSON Lines, or CSV by a .csv "
        "name ('-': JSON Lines on stdin)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="report.html",
        help="the HTML file to write (default: report.html; '-' for stdout)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no summary line on stderr at the end"
    )


def run_report(args: argparse.Namespace) -> int:
    from .._report import write_report

    summary = write_report(
        args.inputs,
        args.output,
        on_bad_line=lambda bad: print_to_stderr(f"corocrawl report: {bad}"),
    )
    if not args.quiet:
        lines = "line" if summary.bad_lines == 1 else "lines"
        bad = f" ({summary.bad_lines:,} bad {lines} skipped)" if summary.bad_lines else ""
        where = "stdout" if summary.output == "-" else summary.output
        print_to_stderr(
            f"corocrawl report: {summary.records:,} records{bad}: {summary.fetched:,} fetched, "
            f"{summary.broken:,} broken, {summary.skipped:,} skipped; written to {where}"
        )
    return 0
