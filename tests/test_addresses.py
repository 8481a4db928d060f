"""refuse_private: only public addresses, judged on the address connected to."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

import corocrawl
from corocrawl import FetchConfig, RetryPolicy
from corocrawl._config import TRANSPORT_NAMES
from corocrawl._engine.addresses import address_of, is_public_address
from corocrawl.testing import ServerProcess


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:8.8.8.8", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),
        ("::1", False),
        ("169.254.169.254", False),  # cloud metadata services live here
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("::ffff:10.0.0.1", False),  # a private IPv4 address inside IPv6
        ("64:ff9b::a00:1", False),  # NAT64 to 10.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 to 8.8.8.8
        ("64:ff9b:1::1", False),  # a site's own NAT64 prefix
        ("2002:a00:1::", False),  # 6to4 from 10.0.0.1
        ("2002:808:808::", True),  # 6to4 from 8.8.8.8
        ("::10.0.0.1", False),  # IPv4-compatible
        ("::", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("not an address", False),
    ],
)
def test_public_addresses_are_told_apart(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_refuse_private_never_connects_to_loopback(
    start_server: Callable[..., ServerProcess], host: str, transport: str
) -> None:
    server = start_server()
    port = server.url.rsplit(":", 1)[1]
    url = f"http://{host}:{port}/status/200"
    config = FetchConfig(refuse_private=True, retry=RetryPolicy(retries=0), transport=transport)
    (refused,) = corocrawl.fetch_all([url], config)
    assert refused.error is not None
    assert refused.error.type == "BlockedURL"
    assert "refused by --refuse-private" in refused.error.message
    assert server.stats()["requests"] == 0
    (allowed,) = corocrawl.fetch_all([url], FetchConfig(transport=transport))  # no option
    assert allowed.status == 200


# The address a host's requests count against (--per-ip).


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("192.0.2.9", "192.0.2.9"),
        ("::ffff:192.0.2.9", "192.0.2.9"),  # an IPv4-mapped address is the IPv4 one
        ("2001:DB8::1", "2001:db8::1"),
        ("no-such-host.invalid", None),  # RFC 2606: never resolves
    ],
)
async def test_a_hosts_address_is_its_literal_or_what_its_name_resolves_to(
    host: str, address: str | None
) -> None:
    assert await address_of(host) == address


async def test_a_name_is_the_first_address_the_system_resolver_gives() -> None:
    first = socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)[0][4][0]
    assert await address_of("localhost") == first
