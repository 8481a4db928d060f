"""HTTPS against a real TLS server whose certificate a private CA signed (made by trustme)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from corocrawl._config import TRANSPORT_NAMES
from corocrawl.testing import ServerProcess


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the CA's certificate, the server's certificate chain, the server's key), as PEM files."""
    directory = tmp_path_factory.mktemp("ca")
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    ca, chain, key = directory / "ca.pem", directory / "chain.pem", directory / "key.pem"
    authority.cert_pem.write_to_path(str(ca))
    issued.private_key_pem.write_to_path(str(key))
    with chain.open("wb") as out:
        for blob in issued.cert_chain_pems:
            out.write(blob.bytes())
    return ca, chain, key


@pytest.fixture(scope="module")
def https_server(private_ca: tuple[Path, Path, Path]) -> Iterator[ServerProcess]:
    _, chain, key = private_ca
    with ServerProcess(
        "--tls-cert", str(chain), "--tls-key", str(key), "--delay", "0",
        "--site-pages", "30", "--site-links", "3",
    ) as server:  # fmt: skip
        yield server


def corocrawl(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corocrawl", *args],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_serve_speaks_https_when_given_a_certificate(https_server: ServerProcess) -> None:
    assert https_server.url.startswith("https://127.0.0.1:")


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_a_certificate_from_an_unknown_ca_is_a_tls_error_record(
    https_server: ServerProcess, transport: str
) -> None:
    done = corocrawl(
        "fetch", "-", "-q", "--transport", transport, stdin=f"{https_server.url}/status/200\n"
    )
    assert done.returncode == 0, done.stderr
    (record,) = records(done.stdout)
    assert record["status"] is None
    error = record["error"]
    assert isinstance(error, dict)
    assert error["type"] == "TLSError"
    assert "certificate" in str(error["message"]).lower()


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_ca_bundle_trusts_a_private_ca_in_fetch_and_crawl(
    https_server: ServerProcess, private_ca: tuple[Path, Path, Path], transport: str
) -> None:
    """README (HTTPS: an intranet or a test server): --ca-bundle trusts a private CA."""
    ca, _, _ = private_ca
    trusting = ("--ca-bundle", str(ca), "--transport", transport)
    fetched = corocrawl("fetch", "-", "-q", *trusting, stdin=f"{https_server.url}/status/200\n")
    assert fetched.returncode == 0, fetched.stderr
    assert [record["status"] for record in records(fetched.stdout)] == [200]

    crawled = corocrawl("crawl", f"{https_server.url}/site/0", "-q", *trusting)
    assert crawled.returncode == 0, crawled.stderr
    pages = {
        str(record["url"]): record["status"]
        for record in records(crawled.stdout)
        if "/site/" in str(record["url"])
    }
    site_pages = {f"{https_server.url}/site/{page}" for page in range(30)}
    assert site_pages <= set(pages)
    assert all(pages[url] == 200 for url in site_pages)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("not a certificate\n", "no PEM certificates in it"),
    ],
)
def test_a_bad_ca_bundle_is_a_one_line_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_text(content)
    done = corocrawl("fetch", "-", "--ca-bundle", str(bundle), stdin="http://127.0.0.1:9/\n")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"corocrawl fetch: error: --ca-bundle '{bundle}': {message}")


def test_serve_names_a_key_that_does_not_fit_its_certificate(
    private_ca: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, chain, _ = private_ca
    other_key = tmp_path / "other.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other_key))
    done = corocrawl("serve", "--port", "0", "--tls-cert", str(chain), "--tls-key", str(other_key))
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"corocrawl serve: error: --tls-cert {chain} with --tls-key {other_key}")
