"""IP addresses: which are on the public internet, and which one a host's requests count
against (the per-address limit).

A transport refuses addresses that are not public, for crawls of URLs one does not control:
it checks names where it resolves them (so the address connected to is the one checked, and a
name that re-resolves to an inner address later is caught too), and IP literals, which are
never resolved, before each hop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

__all__ = ["NonPublicAddress", "address_of", "is_public_address", "normal_address"]


class NonPublicAddress(OSError):
    """A host resolved only to private, loopback, link-local or otherwise reserved addresses."""


def is_public_address(text: str) -> bool:
    """True for an IP address routable on the public internet; False for private (10/8,
    192.168/16, fc00::/7 ...), loopback, link-local, multicast, reserved and unspecified ones."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return False  # a site's own NAT64 prefix (RFC 8215): it leads inside
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            address = embedded  # judged by where it leads, not by how it is written
    return address.is_global and not address.is_multicast


def normal_address(text: str) -> str:
    """An IP address in the one form it is counted under (an IPv4-mapped IPv6 one as IPv4);
    ValueError if `text` is not an IP address."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


async def address_of(host: str) -> str | None:
    """The address `host` stands for, in normal form: itself if it is an IP address, else
    the first the system's resolver gives (the one a connection tries first); None when the
    resolver gives none."""
    try:
        return normal_address(host.strip("[]"))
    except ValueError:
        pass  # a name
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return None
    return normal_address(str(found[0][4][0])) if found else None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the last 32 bits
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries: mapped, 6to4, NAT64 or IPv4-compatible."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
