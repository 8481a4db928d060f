"""`corocrawl bench seed` end to end at tiny scale: every strategy runs, the table, the JSON and
the plot are produced, and nothing asserts a speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corocrawl._bench._report import _overlap
from corocrawl._bench._seed import SEED_ROWS


def bench_seed(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corocrawl", "bench", "seed", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


def rows_by_strategy(path: Path) -> dict[str, dict[str, object]]:
    return {row["strategy"]: row for row in json.loads(path.read_text())["rows"]}


def test_every_strategy_runs_and_the_outputs_are_written(tmp_path: Path) -> None:
    out, plot = tmp_path / "seed.json", tmp_path / "seed.png"
    done = bench_seed(
        "--requests", "4", "--trap-requests", "2", "--delay", "0.05",
        "--json", str(out), "--plot", str(plot),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = rows_by_strategy(out)
    assert list(rows) == [row.strategy for row in SEED_ROWS]
    trap = rows.pop("asyncio-await-blocking")
    assert trap["status"] == "error"
    assert trap["note"] == "TypeError: object Response can't be used in 'await' expression"
    for strategy, row in rows.items():
        assert row["status"] == "ok", (strategy, row["note"])
        assert isinstance(row["wall_s"], float)
        assert row["wall_s"] > 0
    assert rows["asyncio-blocking"]["requests"] == 2
    assert rows["sequential"]["requests"] == 4
    assert plot.read_bytes().startswith(b"\x89PNG")
    # The tutorial's figures were measured at 3 s a request: shown scaled to this delay.
    assert "(the tutorial's figures scaled from its 3s)" in done.stdout
    assert "5.08 s (100)" in done.stdout  # its 305 s
    assert "305 s" not in done.stdout


def test_a_strategy_over_the_budget_is_skipped_with_its_estimate(tmp_path: Path) -> None:
    out = tmp_path / "seed.json"
    done = bench_seed(
        "--only", "sequential,asyncio-aiohttp", "--requests", "40", "--delay", "0.05",
        "--budget", "1", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = rows_by_strategy(out)
    assert rows["sequential"]["status"] == "skipped"
    assert rows["sequential"]["estimate_s"] == pytest.approx(2.0)
    assert "over the 1s budget" in str(rows["sequential"]["note"])
    assert rows["asyncio-aiohttp"]["status"] == "ok"


def test_a_missing_optional_library_is_reported_with_an_install_hint(tmp_path: Path) -> None:
    # A real failed import in every child process: sitecustomize runs at interpreter start.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['aiomultiprocess'] = None\n")
    out = tmp_path / "seed.json"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(hide)}
    done = bench_seed(
        "--only", "aiomultiprocess", "--requests", "2", "--delay", "0.05", "--json", str(out),
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    row = rows_by_strategy(out)["aiomultiprocess"]
    assert row["status"] == "unavailable"
    assert row["note"] == "needs aiomultiprocess: pip install 'corocrawl[bench]'"


def test_an_unknown_strategy_is_a_clear_error() -> None:
    done = bench_seed("--only", "telepathy")
    assert done.returncode == 2
    assert "unknown strategies ['telepathy']" in done.stderr


def test_the_plot_colours_a_strategy_by_what_it_is_not_by_a_run() -> None:
    kinds = {row.strategy: _overlap(row) for row in SEED_ROWS}
    assert kinds["sequential"] == kinds["asyncio-blocking"] == 0  # one at a time
    assert kinds["pool-8"] == 1  # one per process
    assert kinds["asyncio-aiohttp"] == kinds["corocrawl-workers"] == 2  # all at once
