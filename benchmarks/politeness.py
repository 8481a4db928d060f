"""A crawl of a host that answers 429 past a rate: the rate the server saw, second by second,
with adaptive politeness (`--adaptive-delay`) and without it (the default, which still slows
down on 429), and
a plot of both (needs the plot extra).

    .venv/bin/python benchmarks/politeness.py --rate 30 --pages 400 --plot benchmarks/politeness.png

Starts the bundled server in its own process; its /limited site answers 429 to requests past
`rate` a second and logs every request it saw.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

from corocrawl.testing import ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=30, help="requests a second the host allows")
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--per-host", type=int, default=8)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    series: dict[str, list[tuple[int, int, int]]] = {}
    with ServerProcess() as server, tempfile.TemporaryDirectory() as folder:
        for label, extra in (
            ("--adaptive-delay", ("--adaptive-delay",)),
            ("fixed delay (default)", ()),
        ):
            key = uuid.uuid4().hex
            subprocess.run(
                [sys.executable, "-m", "corocrawl", "crawl", f"{server.url}/limited/{key}/"
                 f"{args.rate}/0", "-o", str(Path(folder) / f"{key}.jsonl"), "--ignore-robots",
                 "--max-pages", str(args.pages), "--per-host", str(args.per_host), *extra,
                 "--quiet"],
                check=True,
            )  # fmt: skip
            with urllib.request.urlopen(f"{server.url}/limited-log/{key}", timeout=10) as answer:
                log = json.load(answer)
            seconds = Counter((int(at), status) for at, status in log)
            last = int(log[-1][0])
            series[label] = [
                (second, seconds[(second, 200)], seconds[(second, 429)])
                for second in range(last + 1)
            ]
            took = log[-1][0]
            refused = sum(count for (_, status), count in seconds.items() if status == 429)
            print(f"{label}: {len(log)} requests in {took:.1f}s, {refused} answered 429")
            print("  second: admitted/refused  " + "  ".join(
                f"{second}:{ok}/{no}" for second, ok, no in series[label]))  # fmt: skip
    if args.plot:
        _plot(series, args.rate, args.plot)


def _plot(series: dict[str, list[tuple[int, int, int]]], rate: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4))
    for label, points in series.items():
        axes.step([p[0] for p in points], [p[1] + p[2] for p in points], where="post",
                  label=f"{label}: requests/s")  # fmt: skip
        axes.step([p[0] for p in points], [p[2] for p in points], where="post", linestyle=":",
                  label=f"{label}: of which 429")  # fmt: skip
    axes.axhline(rate, color="grey", linestyle="--", label=f"the host's limit ({rate}/s)")
    axes.set_xlabel("seconds since the crawl's first request")
    axes.set_ylabel("requests the server saw, per second")
    axes.set_title("A crawl of a host that answers 429 past a rate")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
