"""The command line as a user runs it: a real process, real files, real signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corocrawl.testing import ServerProcess


def corocrawl(
    *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corocrawl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_fetch_writes_one_record_per_url_and_reports_bad_lines(
    server: ServerProcess, tmp_path: Path
) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text(
        f"# a comment\n{server.url}/status/200\n\nnot a url\n{server.url}/status/404\n"
        f"mailto:someone@example.com\n{server.url}/redirect/1\n"
    )
    out = tmp_path / "out.jsonl"
    done = corocrawl("fetch", str(urls), "-o", str(out), "--retries", "0")
    assert done.returncode == 0, done.stderr
    got = records(out.read_text())
    assert sorted(record["status"] for record in got) == [200, 200, 404]  # type: ignore[type-var]
    assert f"{urls}:4: " in done.stderr
    assert "'not a url'" in done.stderr
    assert f"{urls}:6: scheme 'mailto' is not fetched" in done.stderr
    assert ": 3 URLs in " in done.stderr
    assert ": 3 fetched (" in done.stderr
    assert "  ok 2, HTTP errors 1, failed 0, retries 0," in done.stderr  # a 404 is neither
    assert "status: 200 x2, 404 x1" in done.stderr
    first = got[0]
    assert set(first) >= {
        "url", "final_url", "status", "headers", "content_type", "bytes", "elapsed",
        "attempts", "error",
    }  # fmt: skip


def test_fetch_reads_stdin_and_writes_stdout(server: ServerProcess) -> None:
    done = corocrawl("fetch", "-", "--quiet", stdin=f"{server.url}/status/201\n" * 3)
    assert done.returncode == 0, done.stderr
    assert [record["status"] for record in records(done.stdout)] == [201, 201, 201]
    assert done.stderr == ""


def test_per_ip_holds_hosts_on_one_address_to_its_limit(
    one_address: tuple[ServerProcess, list[str]],
) -> None:
    server, hosts = one_address
    urls = "".join(f"{host}/delay/0.2?n={n}\n" for n in range(20) for host in hosts)
    done = corocrawl("fetch", "-", "--quiet", "--per-ip", "3", stdin=urls)
    assert done.returncode == 0, done.stderr
    assert [record["status"] for record in records(done.stdout)] == [200] * 40
    assert server.stats()["peak_in_flight"] == 3


def test_stats_json_holds_the_summary(server: ServerProcess, tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    done = corocrawl(
        "fetch", "-", "-q", "--stats-json", str(stats), stdin=f"{server.url}/status/200\n" * 4
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(stats.read_text())
    assert (summary["recorded"], summary["fetched"], summary["skipped"]) == (4, 4, 0)
    assert summary["by_status"] == {"200": 4}
    assert summary["latency"]["p50"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "0"], "must be at least 1"),
        (["--max-bytes", "lots"], "is not a size"),
        (["--timeout", "-1"], "argument --timeout: must be a positive number of seconds"),
        (["--connect-timeout", "0"], "argument --connect-timeout: must be a positive number"),
        (["--read-timeout", "nan"], "argument --read-timeout: must be a positive number"),
        (["--read-timeout", "soon"], "argument --read-timeout: 'soon' is not a number"),
        (["--header", "no colon here"], "is not of the form 'Name: value'"),
        (["--retries", "-2"], "retries must be >= 0"),
    ],
)
def test_bad_options_get_a_clear_message(args: list[str], message: str) -> None:
    done = corocrawl("fetch", "-", *args, stdin="")
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_unreadable_input_is_a_clear_error(tmp_path: Path) -> None:
    done = corocrawl("fetch", str(tmp_path / "missing.txt"))
    assert done.returncode == 2
    assert "cannot read input file" in done.stderr
    assert "No such file or directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_full_disk_stops_the_run_loudly(server: ServerProcess) -> None:
    done = corocrawl("fetch", "-", "-o", "/dev/full", stdin=f"{server.url}/status/200\n" * 3)
    assert done.returncode == 1
    assert "cannot write output '/dev/full': No space left on device" in done.stderr
    assert "Traceback" not in done.stderr


def interrupted_run(
    server: ServerProcess, tmp_path: Path, signals: int
) -> tuple[int, list[str], str]:
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{server.url}/delay/0.3\n" * 2000)
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "corocrawl", "fetch", str(urls), "-o", str(out),
         "--concurrency", "50"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.1)
    for _ in range(signals):
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
    _, stderr = process.communicate(timeout=30)
    return process.returncode, out.read_text().splitlines(keepends=True), stderr


@pytest.mark.parametrize("signals", [1, 2])
def test_ctrl_c_leaves_only_whole_records(
    server: ServerProcess, tmp_path: Path, signals: int
) -> None:
    code, lines, stderr = interrupted_run(server, tmp_path, signals)
    assert code == 130, stderr
    assert "stopping: finishing" in stderr
    assert 0 < len(lines) < 2000
    assert all(line.endswith("\n") for line in lines)
    got = [json.loads(line) for line in lines]
    assert all(record["status"] == 200 or record["skip"] == "interrupted" for record in got)
    # Abandoned (a second Ctrl-C) or finished, every URL read has one record.
    assert any(record["status"] == 200 for record in got)
    assert "Traceback" not in stderr


def test_demo_shows_the_lesson() -> None:
    done = corocrawl("demo", "--requests", "20", "--delay", "0.2")
    assert done.returncode == 0, done.stderr
    assert "corocrawl demo: 20 URLs in" in done.stdout
    assert "status: 200 x20" in done.stdout
    assert "One at a time, 20 requests of 0.2s need 4s" in done.stdout


def test_version_and_module_entry_point() -> None:
    done = corocrawl("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("corocrawl ")


@pytest.mark.parametrize("argv", [["--version"], ["fetch", "--help"], ["crawl", "--help"]])
def test_version_and_help_load_neither_aiohttp_nor_the_engine(argv: list[str]) -> None:
    probe = (
        "import contextlib, io, sys\n"
        "from corocrawl._cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})\n"
        "print(sorted(name for name in sys.modules if name == 'aiohttp'\n"
        "    or name.startswith(('corocrawl._engine', 'corocrawl._crawl', 'selectolax'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_ctrl_c_gives_every_url_read_a_record_and_says_where_to_go_on(
    server: ServerProcess, tmp_path: Path
) -> None:
    """URLs waiting between retries or not started yet are recorded as skipped (interrupted);
    the summary names the first input line that was not read."""
    urls = tmp_path / "urls.txt"
    lines = [f"{server.url}/status/503?n={n}" for n in range(10)]
    lines += [f"{server.url}/delay/3?n={n}" for n in range(3000)]
    urls.write_text("\n".join(lines) + "\n")
    out, stats = tmp_path / "out.jsonl", tmp_path / "stats.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "corocrawl", "fetch", str(urls), "-o", str(out), "--retries", "5",
         "--concurrency", "20", "--stats-json", str(stats)],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    got = records(out.read_text())
    summary = json.loads(stats.read_text())
    first_not_read = summary["not_read_from_line"]
    assert 10 < first_not_read <= len(lines)
    # Every URL handed out has exactly one record, and no URL after it has any.
    assert sorted(str(record["url"]) for record in got) == sorted(lines[: first_not_read - 1])
    interrupted = [record for record in got if record.get("skip") == "interrupted"]
    assert {str(r["url"]) for r in interrupted} >= set(lines[:10])  # waiting to retry
    assert summary["interrupted"] == len(interrupted)
    assert f"input lines from {first_not_read} on were not read" in stderr
    assert f"tail -n +{first_not_read} {urls}" in stderr


def test_every_option_of_export_says_what_it_is() -> None:
    done = corocrawl("export", "--help")
    assert done.returncode == 0
    assert "--output-dir DIR      where the workers wrote NAME.WORKER.jsonl" in done.stdout


def test_verbose_says_what_a_quiet_run_is_doing(server: ServerProcess, tmp_path: Path) -> None:
    url = f"{server.url}/flaky/verbose-{time.monotonic_ns()}/1"
    done = corocrawl("fetch", "-", "-q", "-vv", "--workers", "2", stdin=f"{url}\n")
    assert done.returncode == 0, done.stderr
    assert "worker 0 started (pid " in done.stderr  # -v
    assert f"{url}: attempt 1 failed (status 503); again in " in done.stderr  # -vv, in a worker
    quiet = corocrawl("fetch", "-", "-q", stdin=f"{server.url}/status/200\n")
    assert quiet.stderr == ""


async def test_a_run_where_nothing_moves_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from corocrawl import Stats
    from corocrawl._cli import driver

    monkeypatch.setattr(driver, "_STALL_CHECK_EVERY", 0.02)
    monkeypatch.setattr(driver, "_STALL_SAID_AFTER", 0.1)
    said: list[str] = []
    reporter = driver.Reporter("corocrawl crawl")
    reporter.say = said.append  # type: ignore[method-assign]
    stats = Stats()
    stats.in_flight = 2
    watch = asyncio.create_task(driver._say_when_stalled(stats, reporter))
    await asyncio.sleep(0.3)
    watch.cancel()
    assert said
    assert said[0].startswith("nothing recorded for 0s: 2 fetches running; the rest wait")
    assert len(said) <= 3  # said again only after as long again


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(
    tmp_path: Path, link: str
) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/a\n")
    output = tmp_path / "out.jsonl"
    if link == "same":
        output = urls
    elif link == "symlink":
        output.symlink_to(urls)
    else:
        os.link(urls, output)
    done = corocrawl("fetch", str(urls), "-o", str(output))
    assert done.returncode == 2
    assert f"error: --output {str(output)!r} is the same file as INPUT {str(urls)!r}" in (
        done.stderr
    )
    assert urls.read_text() == "http://127.0.0.1:9/a\n"


def test_a_crawl_output_that_is_its_state_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "crawl.db"
    state.write_bytes(b"")
    done = corocrawl("crawl", "http://127.0.0.1:9/", "--state", str(state), "-o", str(state))
    assert done.returncode == 2
    assert "is the same file as" in done.stderr
    assert state.read_bytes() == b""


@pytest.mark.parametrize(
    ("option", "path", "message"),
    [
        ("--stats-json", "/nonexistent/dir/stats.json", "no such directory '/nonexistent/dir'"),
        ("--stats-json", "/etc/hostname/stats.json", "no such directory '/etc/hostname'"),
        ("--save-bodies", "/proc/bodies", "--save-bodies '/proc/bodies': "),
    ],
)
def test_an_output_path_that_cannot_be_written_is_refused_before_fetching(
    server: ServerProcess, option: str, path: str, message: str
) -> None:
    done = corocrawl("fetch", "-", option, path, stdin=f"{server.url}/status/200\\n")
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""  # refused before the first request


def test_stats_every_prints_a_json_line_of_the_statistics_so_far(
    server: ServerProcess, tmp_path: Path
) -> None:
    urls = "".join(f"{server.url}/delay/0.4?n={n}\n" for n in range(4))
    done = corocrawl("fetch", "-", "--concurrency", "1", "-o", str(tmp_path / "out.jsonl"),
                     "--stats-every", "0.3", stdin=urls)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert len(lines) >= 3  # about 1.6 s of fetching, a line every 0.3 s
    recorded = [line["recorded"] for line in lines]
    assert recorded == sorted(recorded)
    assert recorded[-1] >= 2
    assert all(line["time"] > 0 and "by_status" in line for line in lines)
