"""A certificate for the test server, made when it starts: a private CA signs it, for the hosts
it listens on, and the CA is written where a client can be told to trust it (--ca-bundle)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerCertificate", "make_server_certificate"]


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """PEM files: the CA to trust, the server's certificate chain, and its private key."""

    ca: Path
    chain: Path
    key: Path


def make_server_certificate(directory: Path, hosts: list[str]) -> ServerCertificate:
    """Make a CA and a certificate it signs for `hosts` (names or IP addresses), in
    `directory`. Needs trustme (``pip install 'corocrawl[tls]'``): ImportError otherwise."""
    import trustme

    authority = trustme.CA(organization_name="corocrawl test CA")
    issued = authority.issue_cert(*dict.fromkeys(hosts))
    files = ServerCertificate(directory / "ca.pem", directory / "chain.pem", directory / "key.pem")
    authority.cert_pem.write_to_path(str(files.ca))
    issued.private_key_pem.write_to_path(str(files.key))
    with files.chain.open("wb") as chain:
        for blob in issued.cert_chain_pems:
            chain.write(blob.bytes())
    return files
