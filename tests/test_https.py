"""HTTPS against a real TLS server whose certificate a private CA signed (made by trustme)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import corocrawl as corocrawl_api
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
def https_server() -> Iterator[ServerProcess]:
    """`serve --tls`: a certificate made at start, by a CA whose file it names."""
    with ServerProcess(
        "--tls", "--delay", "0", "--site-pages", "30", "--site-links", "3"
    ) as server:
        yield server


@pytest.fixture(params=TRANSPORT_NAMES)
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def corocrawl(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corocrawl", *args],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_serve_tls_makes_a_certificate_and_names_its_ca(https_server: ServerProcess) -> None:
    assert https_server.url.startswith("https://127.0.0.1:")
    assert https_server.ca_file is not None
    assert Path(https_server.ca_file).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert https_server.stats()["requests"] >= 0  # over HTTPS, trusting that CA


def test_serve_speaks_https_with_a_certificate_it_is_given(
    private_ca: tuple[Path, Path, Path], transport: str
) -> None:
    ca, chain, key = private_ca
    with ServerProcess("--tls-cert", str(chain), "--tls-key", str(key)) as server:
        done = corocrawl(
            "fetch", "-", "-q", "--ca-bundle", str(ca), "--transport", transport,
            stdin=f"{server.url}/status/200\n",
        )  # fmt: skip
    assert [record["status"] for record in records(done.stdout)] == [200]


def test_insecure_trusts_any_certificate(https_server: ServerProcess, transport: str) -> None:
    done = corocrawl(
        "fetch", "-", "-q", "--insecure", "--transport", transport,
        stdin=f"{https_server.url}/status/200\n",
    )  # fmt: skip
    assert [record["status"] for record in records(done.stdout)] == [200]


def test_credentials_are_dropped_on_a_redirect_from_https_to_http(
    https_server: ServerProcess, server: ServerProcess, transport: str
) -> None:
    """README, Guarantees (credentials): never over http when given for https."""
    assert https_server.ca_file is not None
    config = corocrawl_api.FetchConfig(
        headers=(("Authorization", "Bearer secret"), ("X-Other", "kept")),
        ca_bundle=Path(https_server.ca_file),
        keep_body=True,
        transport=transport,
    )
    plain = f"{server.url}/headers"
    same_origin, to_http = corocrawl_api.fetch_all(
        [
            f"{https_server.url}/redirect-to?url=/headers",
            f"{https_server.url}/redirect-to?url={plain}",
        ],
        config,
    )
    kept, dropped = (json.loads(result.body or b"{}") for result in (same_origin, to_http))
    assert (same_origin.redirects, to_http.redirects) == (1, 1)
    assert kept["Authorization"] == "Bearer secret"
    assert "Authorization" not in dropped
    assert dropped["X-Other"] == "kept"


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
    assert record["attempts"] == 1  # a refused certificate would be refused again: no retries


def test_a_crawl_of_a_site_whose_certificate_is_refused_records_the_error_at_once(
    https_server: ServerProcess, transport: str
) -> None:
    """Not robots.txt retried for a while and the seed skipped as robots-unavailable: the
    seed is fetched, and its record carries the TLSError, tried once."""
    crawled = corocrawl("crawl", f"{https_server.url}/site/0", "-q", "--transport", transport)
    assert crawled.returncode == 0, crawled.stderr
    (seed,) = records(crawled.stdout)
    assert seed["skip"] is None
    error = seed["error"]
    assert isinstance(error, dict)
    assert (error["type"], seed["attempts"]) == ("TLSError", 1)
    assert "TLSError" in crawled.stderr  # the robots.txt warning names it


def test_ca_bundle_trusts_a_private_ca_in_fetch_and_crawl(
    https_server: ServerProcess, transport: str
) -> None:
    """README (HTTPS: an intranet or a test server): --ca-bundle trusts a private CA."""
    assert https_server.ca_file is not None
    trusting = ("--ca-bundle", https_server.ca_file, "--transport", transport)
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


def test_ca_bundle_adds_to_the_system_authorities_where_their_folder_is_not_hashed(
    https_server: ServerProcess,
    private_ca: tuple[Path, Path, Path],
    tmp_path: Path,
    transport: str,
) -> None:
    """README (HTTPS): --ca-bundle adds to the system's authorities, also where these are a
    file and a folder without OpenSSL's hash links (RHEL's). Here the "system" is a file of
    one CA (SSL_CERT_FILE) and an empty folder (SSL_CERT_DIR); --ca-bundle names another."""
    system_ca, chain, key = private_ca
    assert https_server.ca_file is not None
    environment = {**os.environ, "SSL_CERT_FILE": str(system_ca), "SSL_CERT_DIR": str(tmp_path)}
    with ServerProcess("--tls-cert", str(chain), "--tls-key", str(key)) as system_signed:
        urls = f"{https_server.url}/status/200\n{system_signed.url}/status/200\n"
        done = subprocess.run(
            [sys.executable, "-m", "corocrawl", "fetch", "-", "-q", "--retries", "0",
             "--ca-bundle", https_server.ca_file, "--transport", transport],
            input=urls, capture_output=True, text=True, timeout=120, check=False, env=environment,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [(record["status"], record["error"]) for record in records(done.stdout)] == [
        (200, None),
        (200, None),
    ]


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
