"""The transports there are, by name: `FetchConfig.transport` picks one (see transport.py)."""

from __future__ import annotations

from collections.abc import Callable

from .._config import FetchConfig
from .._exceptions import ConfigError
from .transport import Transport

__all__ = ["TRANSPORTS", "open_transport"]


def _aiohttp(config: FetchConfig) -> Transport:
    from .aiohttp_transport import AiohttpTransport  # its library loads only if chosen

    return AiohttpTransport(config)


def _curl(config: FetchConfig) -> Transport:
    from .curl_transport import CurlTransport

    return CurlTransport(config)


# Imported when chosen, so that a transport's library is loaded only by those who use it.
TRANSPORTS: dict[str, Callable[[FetchConfig], Transport]] = {"aiohttp": _aiohttp, "curl": _curl}


def open_transport(config: FetchConfig) -> Transport:
    """The transport `config.transport` names, not yet entered (use `async with`); with
    `config.replay`, the archive's in front of it (or alone, with `replay_only`)."""
    try:
        make = TRANSPORTS[config.transport]
    except KeyError:
        known = ", ".join(sorted(TRANSPORTS))
        raise ConfigError(f"unknown transport {config.transport!r} (known: {known})") from None
    if config.replay:
        from .replay_transport import ReplayTransport

        network = None if config.replay_only else make(config)
        return ReplayTransport(config, config.replay, network)
    return make(config)
