"""Refusing addresses that are not on the public internet, for crawls of URLs one does not control.

A transport checks names where it resolves them (so the address connected to is the one
checked, and a name that re-resolves to an inner address later is caught too), and IP
literals, which are never resolved, before each hop.
"""

from __future__ import annotations

import ipaddress

__all__ = ["NonPublicAddress", "is_public_address"]


class NonPublicAddress(OSError):
    """A host resolved only to private, loopback, link-local or otherwise reserved addresses."""


def is_public_address(text: str) -> bool:
    """True for an IP address routable on the public internet; False for private (10/8,
    192.168/16, fc00::/7 ...), loopback, link-local, multicast, reserved and unspecified ones."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast
