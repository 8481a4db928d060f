"""Refusing addresses that are not on the public internet, for crawls of URLs one does not control.

Names are checked where aiohttp resolves them (so the address connected to is the one checked,
and a name that re-resolves to an inner address later is caught too); IP literals, which aiohttp
never resolves, are checked before each hop.
"""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

__all__ = ["NonPublicAddress", "PublicOnlyResolver", "is_public_address"]


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


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's default resolver, with every non-public address dropped from its answers."""

    def __init__(self) -> None:
        self._inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        public = [answer for answer in answers if is_public_address(answer["host"])]
        if not public:
            raise NonPublicAddress(f"{host} resolves only to non-public addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()
