"""`--config FILE`: options from a TOML file, flags over them, errors that name the line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corocrawl.testing import ServerProcess


def corocrawl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corocrawl", *args],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def settings(printed: str) -> dict[str, str]:
    """The `key = value` lines of --print-config (the unset ones are comments)."""
    lines = [line for line in printed.splitlines() if line and not line.startswith("#")]
    return dict(line.split(" = ", 1) for line in lines)


def test_a_config_file_sets_any_option_and_the_flags_win(tmp_path: Path) -> None:
    config = tmp_path / "crawl.toml"
    config.write_text(
        'seeds = ["https://example.org/"]\n'
        'state = "crawl.db"\n'
        "ignore-robots = true\n"
        "[scope]\n"
        "max-depth = 2\n"
        'exclude = ["/login", "/cart"]\n'
        "[politeness]\n"
        "delay = 0.5\n"
        "[transport]\n"
        'transport = "aiohttp"\n'
        "max_redirects = 3\n"  # underscores as well as dashes
    )
    done = corocrawl("crawl", "--config", str(config), "--max-depth", "5", "--print-config")
    assert done.returncode == 0, done.stderr
    effective = settings(done.stdout)
    assert effective["seeds"] == '["https://example.org/"]'
    assert effective["state"] == '"crawl.db"'
    assert effective["ignore-robots"] == "true"
    assert effective["max-depth"] == "5"  # the flag over the file
    assert effective["exclude"] == '["/login", "/cart"]'
    assert effective["delay"] == "0.5"
    assert effective["transport"] == '"aiohttp"'
    assert effective["max-redirects"] == "3"
    assert effective["concurrency"] == "64"  # what the file leaves alone keeps its default
    # What --print-config prints is a config file that gives the same settings.
    printed = tmp_path / "printed.toml"
    printed.write_text(done.stdout)
    again = corocrawl("crawl", "--config", str(printed), "--print-config")
    assert again.returncode == 0, again.stderr
    assert again.stdout == done.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('seeds = ["http://x/"]\n[scope]\nmax-deptth = 2\n',
         "crawl.toml:3: unknown option 'max-deptth' (did you mean 'max-depth'?)"),
        ("delay = 'fast'\n",
         "crawl.toml:1: delay: 'fast' is not what it takes (could not convert string to float"),
        ("\n\nignore-robots = 1\n", "crawl.toml:3: ignore-robots: give true or false, not 1"),
        ('transport = "carrier-pigeon"\n', "crawl.toml:1: transport: 'carrier-pigeon' is not"),
        ("seeds = [\n", "crawl.toml: not TOML"),
        ('delay = "\udcff"\n', "crawl.toml: not UTF-8 text"),  # a byte 0xff, written as is
        ("max-depth = 2\n[scope]\nmax_depth = 3\n",
         "crawl.toml:3: 'max_depth' is set twice (also at "),
    ],
)  # fmt: skip
def test_a_bad_config_file_names_the_file_the_line_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "crawl.toml"
    config.write_bytes(text.encode("utf-8", "surrogateescape"))
    done = corocrawl("crawl", "--config", str(config), "http://127.0.0.1:1/")
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_crawl_runs_from_its_config_file(server: ServerProcess, tmp_path: Path) -> None:
    config = tmp_path / "crawl.toml"
    out = tmp_path / "pages.jsonl"
    config.write_text(
        f'seeds = ["{server.url}/site/0"]\noutput = "{out}"\nquiet = true\n[scope]\nmax-pages = 7\n'
    )
    done = corocrawl("crawl", "--config", str(config))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(record["status"] == 200 for record in records) == 7


def test_fetch_takes_its_input_and_options_from_a_config_file(
    server: ServerProcess, tmp_path: Path
) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{server.url}/bytes/{n}\n" for n in range(1, 6)))
    config = tmp_path / "fetch.toml"
    config.write_text(
        f'input = "{urls}"\nconcurrency = 2\n[output]\noutput = "{tmp_path / "out.jsonl"}"\n'
    )
    done = corocrawl("fetch", "--config", str(config), "-q")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(record["bytes"] for record in records) == [1, 2, 3, 4, 5]
    missing = corocrawl("fetch")
    assert missing.returncode == 2
    assert "give INPUT: a file of URLs, one per line, or '-' for stdin" in missing.stderr


def test_a_flag_replaces_the_files_list_count_or_exclusive_choice(tmp_path: Path) -> None:
    config = tmp_path / "crawl.toml"
    config.write_text(
        'exclude = ["/a", "/b"]\nverbose = 2\nproxy = "http://127.0.0.1:1"\n"http1.1" = true\n'
    )
    done = corocrawl("crawl", "--config", str(config), "--exclude", "/c", "-v", "--proxy-file",
                     str(tmp_path / "proxies.txt"), "--print-config", "http://x/")  # fmt: skip
    assert done.returncode == 0, done.stderr
    effective = settings(done.stdout)
    assert effective["exclude"] == '["/c"]'  # the flag's list, not both
    assert effective["verbose"] == "1"  # -v, not 2 + 1
    assert "proxy" not in effective  # --proxy-file given: the file's --proxy is dropped
    assert effective["proxy-file"].endswith('proxies.txt"')
    assert effective['"http1.1"'] == "true"
    assert "http3" not in effective


def test_print_config_writes_any_text_back_as_valid_toml(tmp_path: Path) -> None:
    done = corocrawl("crawl", "http://x/", "-o", "a\nb \"c\".jsonl", "--user-agent", "ua\x01",
                     "--print-config")  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = tmp_path / "printed.toml"
    printed.write_text(done.stdout)
    again = corocrawl("crawl", "--config", str(printed), "--print-config")
    assert again.returncode == 0, again.stderr
    assert again.stdout == done.stdout


def test_the_outputs_extract_and_metrics_options_go_in_a_config_file_and_back(
    tmp_path: Path,
) -> None:
    config = tmp_path / "crawl.toml"
    config.write_text(
        'seeds = ["https://example.org/"]\n'
        'output = "pages.parquet"\n'
        'items = "texts.parquet"\n'
        'extract = ["meta", "text"]\n'
        "part-rows = 5000\n"
        "metrics-port = 9464\n"
    )
    done = corocrawl("crawl", "--config", str(config), "--print-config")
    assert done.returncode == 0, done.stderr
    effective = settings(done.stdout)
    assert effective["extract"] == '["meta", "text"]'
    assert effective["part-rows"] == "5000"
    assert effective["metrics-port"] == '"127.0.0.1:9464"'
    printed = tmp_path / "printed.toml"
    printed.write_text(done.stdout)
    again = corocrawl("crawl", "--config", str(printed), "--print-config")
    assert again.stdout == done.stdout, again.stderr
