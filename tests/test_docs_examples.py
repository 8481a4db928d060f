"""Every code block of README.md and docs/ runs as written, against the bundled server.

A block runs unless the line before it says why not (`<!-- not run: ... -->`). Before a block
runs, only the names the docs use for what a reader has are replaced: the server's address
(`127.0.0.1:PORT`, `https://example.org/`, `https://shop.example/`, `SEED...`), Redis's
(`redis://HOST:6379/0`, `redis://redis.internal:6379/0`), the crawl id `shop` (one per run,
since the test's Redis is shared), and paths under /data. A line that
starts a server of the reader's own (`corocrawl serve ... &`, `redis-server`) is left out:
the test's servers stand in for them. The shell blocks of a file run in order in one
directory, as a reader would type them, so a block may use the files an earlier one made.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RedisServer

from corocrawl.testing import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(
    r"(?:<!-- not run: (?P<why>[^>]+) -->\n)?```(?P<lang>[a-z]*)\n(?P<code>.*?)```", re.S
)
_OWN_SERVER = re.compile(r"^(corocrawl serve [^\n]*&|redis-server )[^\n]*$", re.M)
# What the reader's own handler module looks like (README, "Crawl a site").
HANDLERS = """
async def titles(page):
    yield {"title": page.title}
"""


def blocks(path: Path, lang: str) -> list[tuple[int, str]]:
    """(line, code) of each block in `lang` that is to run."""
    text = path.read_text()
    found = []
    for match in _BLOCK.finditer(text):
        if match["lang"] == lang and not match["why"]:
            found.append((text.count("\n", 0, match.start("code")) + 1, match["code"]))
    return found


def with_local_names(code: str, site: str, redis: str, tmp_path: Path) -> str:
    code = _OWN_SERVER.sub("", code)
    for name in ("https://example.org/", "https://example.com/", "https://shop.example/"):
        code = code.replace(name, f"{site}/site/0")
    # Each run is a new crawl of the shared Redis: its own crawl id.
    code = re.sub(r"\bshop\b", f"shop-{tmp_path.name}", code)
    code = code.replace("SEED...", f"{site}/site/0")
    code = code.replace("http://127.0.0.1:PORT", site)
    for name in ("redis://HOST:6379/0", "redis://redis.internal:6379/0"):
        code = code.replace(name, redis)
    return code.replace("/data/", f"{tmp_path}/data/")


@pytest.fixture(scope="module")
def site() -> Iterator[ServerProcess]:
    server = ServerProcess("--delay", "0", "--site-pages", "60", "--site-links", "3")
    server.start()
    yield server
    server.stop()


def environment(tmp_path: Path) -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "PYTHONPATH": str(tmp_path)}


@pytest.mark.parametrize(
    ("doc", "line", "code"),
    [(path, line, code) for path in DOCS for line, code in blocks(path, "python")],
    ids=lambda value: value.name if isinstance(value, Path) else str(value)[:20],
)
def test_python_blocks_run_as_written(
    doc: Path, line: int, code: str, site: ServerProcess, redis_server: RedisServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    script = tmp_path / "example.py"
    script.write_text(with_local_names(code, site.url, redis_server.url, tmp_path))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{doc.name}:{line}\n{done.stderr}"
    # It did something: printed, or wrote its outputs (a main() never called does neither).
    made = {path.name for path in tmp_path.iterdir()} - {"example.py", "__pycache__"}
    assert done.stdout.strip() or made, f"{doc.name}:{line} ran and did nothing"


@pytest.mark.parametrize("doc", [doc for doc in DOCS if blocks(doc, "sh")], ids=lambda d: d.name)
def test_shell_blocks_run_as_written(
    doc: Path, site: ServerProcess, redis_server: RedisServer, tmp_path: Path
) -> None:
    (tmp_path / "my_handlers.py").write_text(HANDLERS)
    for line, code in blocks(doc, "sh"):
        done = subprocess.run(
            ["bash", "-e", "-c", with_local_names(code, site.url, redis_server.url, tmp_path)],
            cwd=tmp_path,
            env=environment(tmp_path),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, f"{doc.name}:{line}\n{done.stderr[-3000:]}"


def test_every_test_the_guarantees_name_exists() -> None:
    """README's Guarantees name the test behind each promise: each must exist in tests/."""
    readme = (ROOT / "README.md").read_text()
    guarantees = readme.split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", guarantees))
    defined = {
        match
        for path in (ROOT / "tests").glob("test_*.py")
        for match in re.findall(r"^(?:async )?def (test_[a-z0-9_]+)\(", path.read_text(), re.M)
    }
    assert len(named) >= 20
    assert named <= defined, sorted(named - defined)
