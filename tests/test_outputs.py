"""Parquet and SQLite outputs: typed columns, bounded memory, and cut back to a commit."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import corocrawl
from corocrawl.testing import ServerProcess


def record(number: int) -> dict[str, Any]:
    return {
        "url": f"https://example.org/{number}",
        "status": 200,
        "bytes": 1000 + number,
        "elapsed": 0.25,
        "headers": {"content-type": "text/html"},
        "error": None,
        "title": f"Page {number} " + "x" * 400,
    }


def urls_of(path: Path) -> list[str]:
    return [str(url) for url in pq.read_table(path, columns=["url"]).column("url").to_pylist()]


def test_a_parquet_output_is_a_folder_of_typed_parts(tmp_path: Path) -> None:
    out = tmp_path / "pages.parquet"
    sink = corocrawl.ParquetSink(out, part_rows=100)
    for number in range(250):
        sink.write(record(number))
        if number % 60 == 59:
            sink.flush()
    sink.write({**record(250), "status": "teapot", "unexpected": [1, 2]})  # misfits: to extra
    sink.close()
    assert sorted(path.name for path in out.iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet",
    ]  # fmt: skip
    table = pq.read_table(out)
    assert table.num_rows == 251
    assert str(table.schema.field("status").type) == "int64"
    assert str(table.schema.field("elapsed").type) == "double"
    last = table.slice(250).to_pylist()[0]
    assert last["status"] is None
    assert json.loads(last["extra"]) == {"unexpected": [1, 2], "status": "teapot"}
    assert json.loads(last["headers"]) == {"content-type": "text/html"}


def test_a_parquet_output_cut_back_into_a_closed_part_respools_its_rows(tmp_path: Path) -> None:
    """A part closed after the crawl's last commit (killed before it committed) is opened up
    again: its rows up to the commit go back to the spool, the rest are dropped."""
    out = tmp_path / "pages.parquet"
    sink = corocrawl.ParquetSink(out, part_rows=100)
    for number in range(150):
        sink.write(record(number))
    sink.flush()  # closes part 0 with 150 rows
    for number in range(150, 180):
        sink.write(record(number))
    sink.flush()  # 30 rows in the spool
    assert sink.length == 180
    del sink  # killed: never closed

    resumed = corocrawl.ParquetSink(out, append=True, part_rows=100)
    assert resumed.length == 180
    resumed.cut_back(120)  # the commit was within part 0
    assert resumed.length == 120
    for number in range(120, 200):
        resumed.write(record(number))
    resumed.close()
    assert urls_of(out) == [f"https://example.org/{number}" for number in range(200)]


def test_a_parquet_spool_whose_part_was_closed_is_not_read_twice(tmp_path: Path) -> None:
    """Killed between closing a part and emptying the spool: the part holds the rows."""
    out = tmp_path / "pages.parquet"
    sink = corocrawl.ParquetSink(out, part_rows=10)
    for number in range(10):
        sink.write(record(number))
    sink.flush()
    spool = (out / "_spool.jsonl").read_bytes()
    for number in range(10, 12):
        sink.write(record(number))
    sink.flush()
    del sink
    (out / "_spool.jsonl").write_bytes(spool.replace(b'"part":1', b'"part":0'))  # stale
    resumed = corocrawl.ParquetSink(out, append=True, part_rows=10)
    assert resumed.length == 10
    resumed.close()
    assert len(urls_of(out)) == 10


@pytest.mark.parametrize("rows", [20_000, 60_000])
def test_a_parquet_output_holds_one_row_group_in_memory(tmp_path: Path, rows: int) -> None:
    tracemalloc.start()
    try:
        sink = corocrawl.ParquetSink(tmp_path / "pages.parquet")
        for number in range(rows):
            sink.write(record(number))
        sink.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 60,000 rows of 500 bytes held at once would be over 30 MB; a row group is 10,000 rows.
    assert peak < 20_000_000, peak
    assert pq.read_metadata(tmp_path / "pages.parquet" / "part-00000.parquet").num_rows == rows


def test_a_sqlite_output_has_a_records_table_and_cuts_back_to_a_commit(tmp_path: Path) -> None:
    out = tmp_path / "pages.sqlite"
    sink = corocrawl.SqliteSink(out)
    for number in range(30):
        sink.write(record(number))
    sink.flush()
    assert sink.length == 30
    sink.close()
    resumed = corocrawl.SqliteSink(out, append=True)
    resumed.cut_back(25)
    resumed.write(record(99))
    resumed.close()
    with sqlite3.connect(out) as db:
        rows = db.execute(
            "SELECT url, status, json_extract(headers, '$.content-type') FROM records"
        )
        found = rows.fetchall()
    assert len(found) == 26
    assert found[-1] == ("https://example.org/99", 200, "text/html")


def test_fetch_writes_parquet_and_sqlite_by_the_file_name(
    server: ServerProcess, tmp_path: Path
) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{server.url}/status/{code}\n" for code in (200, 404, 500)))
    for name in ("results.parquet", "results.db"):
        done = subprocess.run(
            [sys.executable, "-m", "corocrawl", "fetch", str(urls), "-o", str(tmp_path / name),
             "-q", "--retries", "0"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    statuses = sorted(pq.read_table(tmp_path / "results.parquet").column("status").to_pylist())
    assert statuses == [200, 404, 500]
    with contextlib.closing(sqlite3.connect(tmp_path / "results.db")) as db:
        assert sorted(row[0] for row in db.execute("SELECT status FROM records")) == statuses


def test_a_parquet_output_to_stdout_or_over_a_file_is_refused(tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/\n")
    done = subprocess.run(
        [sys.executable, "-m", "corocrawl", "fetch", str(urls), "--format", "parquet"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "a parquet output cannot go to stdout: give it a file name" in done.stderr
    (tmp_path / "pages.parquet").write_text("not a folder")
    with pytest.raises(corocrawl.ConfigError, match="is a file: a Parquet output is a folder"):
        corocrawl.ParquetSink(tmp_path / "pages.parquet")


_CUT_BACK = """
import sys
import corocrawl
sink = corocrawl.ParquetSink(sys.argv[1], append=True, part_rows=100_000)
print("open", flush=True)
sink.cut_back(int(sys.argv[2]))
"""


def test_a_kill_while_a_parquet_output_is_cut_back_loses_no_committed_row(
    tmp_path: Path,
) -> None:
    """README, Guarantees (kill -9 at any moment): the resume's own cut back, killed at
    random moments, leaves every committed row, and cutting back again ends the same."""
    import random
    import shutil
    import signal

    original = tmp_path / "original.parquet"
    sink = corocrawl.ParquetSink(original, part_rows=100_000)
    for number in range(20_000):
        sink.write(record(number))
    sink.flush()
    del sink  # killed: 20,000 rows spooled, 15,000 committed
    script = tmp_path / "cut_back.py"
    script.write_text(_CUT_BACK)
    rng = random.Random(7)
    for attempt in range(8):
        out = tmp_path / f"attempt-{attempt}.parquet"
        shutil.copytree(original, out)
        child = subprocess.Popen(
            [sys.executable, str(script), str(out), "15000"], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        assert child.stdout.readline() == "open\n"
        time.sleep(rng.uniform(0, 0.1))  # cutting back takes about 0.08 s here
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        resumed = corocrawl.ParquetSink(out, append=True, part_rows=100_000)
        assert resumed.length >= 15_000
        resumed.cut_back(15_000)
        resumed.close()
        assert urls_of(out) == [f"https://example.org/{number}" for number in range(15_000)]


def test_item_values_keep_their_own_type_and_misfits_go_to_extra(tmp_path: Path) -> None:
    """A column empty in the first item is text (not JSON text); an integer past int64 and a
    value of another type than its column's go to `extra`, in Parquet; SQLite keeps every
    value as it came."""
    items = [
        {"url": "u1", "author": None, "zip": 1234, "big": 1},
        {"url": "u2", "author": "Ada", "zip": "01234", "big": 2**63},
    ]
    parquet = corocrawl.ParquetSink(tmp_path / "items.parquet", columns=None)
    sqlite = corocrawl.SqliteSink(tmp_path / "items.sqlite", columns=None)
    for sink in (parquet, sqlite):
        for item in items:
            sink.write(item)
        sink.close()
    second = pq.read_table(tmp_path / "items.parquet").to_pylist()[1]
    assert second["author"] == "Ada"
    assert second["zip"] is None
    assert second["big"] is None
    assert json.loads(second["extra"]) == {"zip": "01234", "big": 2**63}
    with contextlib.closing(sqlite3.connect(tmp_path / "items.sqlite")) as db:
        rows = db.execute("SELECT author, zip, typeof(zip) FROM items ORDER BY _row").fetchall()
    assert rows == [(None, 1234, "integer"), ("Ada", "01234", "text")]


def test_sqlite_item_keys_named_rowid_or_alike_but_for_case_are_kept(tmp_path: Path) -> None:
    out = tmp_path / "items.sqlite"
    sink = corocrawl.SqliteSink(out, columns=None)
    for number in range(10):
        sink.write({"url": f"u{number}", "rowid": 7, "Title": "A", "title": "a", "Extra": 1})
    sink.flush()
    sink.close()
    resumed = corocrawl.SqliteSink(out, append=True, columns=None)
    assert resumed.length == 10
    resumed.cut_back(5)
    resumed.close()
    with contextlib.closing(sqlite3.connect(out)) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(row) for row in db.execute("SELECT * FROM items")]
    assert len(rows) == 5
    assert rows[0]["rowid"] == 7
    assert rows[0]["Title"] == "A"
    assert json.loads(rows[0]["extra"]) == {"title": "a", "Extra": 1}
