"""The layers of docs/architecture.md hold: import-linter's contracts (pyproject.toml) pass on
the tree, and each kind of violation makes them fail, checked on a copy of the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import corocrawl

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=package_parent,
        timeout=120,
        check=False,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the corocrawl package, first on the path of the linter run on it."""
    source = Path(corocrawl.__file__).parent
    shutil.copytree(source, tmp_path / "corocrawl", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_layer_contracts_hold_on_the_tree(package_copy: Path) -> None:
    done = lint_imports(package_copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("_models.py", "from corocrawl._engine import engine", "only the layers below it"),
        ("_engine/engine.py", "from corocrawl._crawl import pages", "only the layers below it"),
        ("_crawl/parse.py", "import argparse", "argparse only in the command line"),
        ("_workers/pool.py", "import aiohttp", "aiohttp's client only in the aiohttp transport"),
        ("_engine/transport.py", "from . import engine", "the engine no HTTP library"),
        ("_crawl/parse.py", "from . import crawler", "No import circles inside a room"),
    ],
)
def test_a_deliberate_violation_fails_the_contracts(
    package_copy: Path, module: str, line: str, contract: str
) -> None:
    path = package_copy / "corocrawl" / module
    path.write_text(path.read_text() + f"\n{line}  # a deliberate violation\n")
    done = lint_imports(package_copy)
    assert done.returncode != 0
    broken = done.stdout.split("Broken contracts", 1)[1]
    assert contract in " ".join(broken.split()), done.stdout
